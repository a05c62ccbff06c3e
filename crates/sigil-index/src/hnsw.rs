//! A small HNSW graph (Malkov & Yashunin, 2016) over unit vectors, with cosine
//! distance `1 - dot`, the neighbour-selection heuristic, seeded level draws (so a
//! build is reproducible), and a compact little-endian file format.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Graph parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HnswParams {
    /// Links per node above layer 0 (layer 0 keeps twice as many).
    pub m: usize,
    /// Candidate list size while building.
    pub ef_construction: usize,
    /// Seed of the level draws.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 200,
            seed: 0x5167_11de,
        }
    }
}

/// The graph: for every node, its neighbour lists from layer 0 up to its level.
#[derive(Clone, Debug, PartialEq)]
pub struct Hnsw {
    m: usize,
    entry: u32,
    max_level: usize,
    links: Vec<Vec<Vec<u32>>>,
}

#[derive(Clone, Copy)]
struct Dist(f32);
impl PartialEq for Dist {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Dist {}
impl PartialOrd for Dist {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Dist {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

struct Vectors<'a> {
    data: &'a [f32],
    dim: usize,
}

impl Vectors<'_> {
    fn get(&self, i: u32) -> &[f32] {
        let s = i as usize * self.dim;
        &self.data[s..s + self.dim]
    }
    fn dist(&self, q: &[f32], i: u32) -> f32 {
        1.0 - dot(q, self.get(i))
    }
}

/// splitmix64: a tiny seeded generator for the level draws.
struct Rng(u64);
impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

impl Hnsw {
    /// Builds the graph over `n = data.len() / dim` unit vectors.
    pub fn build(data: &[f32], dim: usize, params: HnswParams) -> Hnsw {
        let n = data.len().checked_div(dim).unwrap_or(0);
        let vs = Vectors { data, dim };
        let m = params.m.max(2);
        let ml = 1.0 / (m as f64).ln();
        let mut rng = Rng(params.seed);
        let mut g = Hnsw {
            m,
            entry: 0,
            max_level: 0,
            links: Vec::with_capacity(n),
        };
        for i in 0..n as u32 {
            let level = (-rng.next_f64().ln() * ml).floor() as usize;
            g.links.push(vec![Vec::new(); level + 1]);
            if i == 0 {
                g.max_level = level;
                continue;
            }
            let q = vs.get(i).to_vec();
            let mut ep = vec![g.entry];
            for layer in (level + 1..=g.max_level).rev() {
                ep = g.search_layer(&vs, &q, &ep, 1, layer);
            }
            for layer in (0..=level.min(g.max_level)).rev() {
                let found = g.search_layer(&vs, &q, &ep, params.ef_construction, layer);
                let chosen = select(&vs, &q, &found, m);
                for &nb in &chosen {
                    g.links[nb as usize][layer].push(i);
                    let cap = if layer == 0 { 2 * m } else { m };
                    if g.links[nb as usize][layer].len() > cap {
                        let base = vs.get(nb).to_vec();
                        let mut cands = g.links[nb as usize][layer].clone();
                        cands.sort_by_key(|&c| Dist(vs.dist(&base, c)));
                        g.links[nb as usize][layer] = select(&vs, &base, &cands, cap);
                    }
                }
                g.links[i as usize][layer] = chosen;
                ep = found;
            }
            if level > g.max_level {
                g.max_level = level;
                g.entry = i;
            }
        }
        g
    }

    /// The nodes nearest to `q` on one layer, nearest first (at most `ef`).
    fn search_layer(
        &self,
        vs: &Vectors,
        q: &[f32],
        ep: &[u32],
        ef: usize,
        layer: usize,
    ) -> Vec<u32> {
        let mut visited = std::collections::HashSet::new();
        let mut candidates = BinaryHeap::new();
        let mut best: BinaryHeap<(Dist, u32)> = BinaryHeap::new();
        for &e in ep {
            if visited.insert(e) {
                let d = Dist(vs.dist(q, e));
                candidates.push(Reverse((d, e)));
                best.push((d, e));
            }
        }
        while best.len() > ef {
            best.pop();
        }
        while let Some(Reverse((d, c))) = candidates.pop() {
            if best.len() >= ef && best.peek().is_some_and(|&(worst, _)| d > worst) {
                break;
            }
            for &nb in self.links[c as usize]
                .get(layer)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                if !visited.insert(nb) {
                    continue;
                }
                let dn = Dist(vs.dist(q, nb));
                if best.len() < ef || best.peek().is_some_and(|&(worst, _)| dn < worst) {
                    candidates.push(Reverse((dn, nb)));
                    best.push((dn, nb));
                    if best.len() > ef {
                        best.pop();
                    }
                }
            }
        }
        let mut out = best.into_sorted_vec();
        out.truncate(ef);
        out.into_iter().map(|(_, i)| i).collect()
    }

    /// The (approximately) `k` nearest nodes to the unit vector `q`, with their cosine
    /// similarity, best first; `ef` (at least `k`) trades speed for recall.
    pub fn search(
        &self,
        data: &[f32],
        dim: usize,
        q: &[f32],
        k: usize,
        ef: usize,
    ) -> Vec<(u32, f32)> {
        if self.links.is_empty() || k == 0 {
            return Vec::new();
        }
        let vs = Vectors { data, dim };
        let mut ep = vec![self.entry];
        for layer in (1..=self.max_level).rev() {
            ep = self.search_layer(&vs, q, &ep, 1, layer);
        }
        let found = self.search_layer(&vs, q, &ep, ef.max(k), 0);
        found
            .into_iter()
            .take(k)
            .map(|i| (i, dot(q, vs.get(i))))
            .collect()
    }

    /// The graph as bytes: `SGHNSW1\0`, then u32 m, entry, max_level, n, then per node
    /// its level count and, per level, a count and the neighbour ids.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"SGHNSW1\0".to_vec();
        let put = |v: u32, out: &mut Vec<u8>| out.extend_from_slice(&v.to_le_bytes());
        put(self.m as u32, &mut out);
        put(self.entry, &mut out);
        put(self.max_level as u32, &mut out);
        put(self.links.len() as u32, &mut out);
        for node in &self.links {
            put(node.len() as u32, &mut out);
            for layer in node {
                put(layer.len() as u32, &mut out);
                for &nb in layer {
                    put(nb, &mut out);
                }
            }
        }
        out
    }

    /// Reads [`Hnsw::to_bytes`] output for a graph of `n` nodes, checking every id.
    pub fn from_bytes(bytes: &[u8], n: usize) -> Result<Hnsw, String> {
        let body = bytes
            .strip_prefix(b"SGHNSW1\0".as_slice())
            .ok_or("not an HNSW graph file (bad magic)")?;
        let mut words = body
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        if body.len() % 4 != 0 {
            return Err("truncated graph file".into());
        }
        let mut next = || {
            words
                .next()
                .ok_or_else(|| "truncated graph file".to_string())
        };
        let m = next()? as usize;
        let entry = next()?;
        let max_level = next()? as usize;
        let count = next()? as usize;
        if count != n {
            return Err(format!(
                "the graph has {count} nodes, the index {n} vectors"
            ));
        }
        let mut links = Vec::with_capacity(n);
        for node in 0..n {
            let levels = next()? as usize;
            if levels == 0 || levels > max_level + 1 {
                return Err(format!("node {node} has {levels} levels"));
            }
            let mut node_links = Vec::with_capacity(levels);
            for _ in 0..levels {
                let len = next()? as usize;
                if len > 4 * m.max(1) {
                    return Err(format!("node {node} has {len} links"));
                }
                let mut layer = Vec::with_capacity(len);
                for _ in 0..len {
                    let nb = next()?;
                    if nb as usize >= n {
                        return Err(format!("node {node} links to missing node {nb}"));
                    }
                    layer.push(nb);
                }
                node_links.push(layer);
            }
            links.push(node_links);
        }
        if next().is_ok() {
            return Err("trailing bytes after the graph".into());
        }
        if n > 0 && (entry as usize >= n || links[entry as usize].len() != max_level + 1) {
            return Err("bad entry point".into());
        }
        Ok(Hnsw {
            m,
            entry,
            max_level,
            links,
        })
    }
}

/// The neighbour-selection heuristic: walk candidates nearest first and keep one
/// only if it is nearer to the base than to every kept neighbour (so links spread
/// in different directions); top up with the nearest skipped ones.
fn select(vs: &Vectors, base: &[f32], sorted: &[u32], m: usize) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(m);
    let mut skipped = Vec::new();
    for &c in sorted {
        if kept.len() >= m {
            break;
        }
        let dc = vs.dist(base, c);
        let cv = vs.get(c);
        if kept.iter().all(|&r| dc < 1.0 - dot(cv, vs.get(r))) {
            kept.push(c);
        } else {
            skipped.push(c);
        }
    }
    for c in skipped {
        if kept.len() >= m {
            break;
        }
        kept.push(c);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random unit vectors.
    pub(crate) fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng(seed);
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let v: Vec<f32> = (0..dim).map(|_| rng.next_f64() as f32 - 0.5).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            out.extend(v.iter().map(|x| x / norm));
        }
        out
    }

    fn exact(data: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<u32> {
        let n = data.len() / dim;
        let mut all: Vec<(u32, f32)> = (0..n as u32)
            .map(|i| (i, dot(q, &data[i as usize * dim..(i as usize + 1) * dim])))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.into_iter().take(k).map(|(i, _)| i).collect()
    }

    #[test]
    fn recall_at_10_against_exact_search_is_high() {
        let dim = 32;
        let data = unit_vectors(3000, dim, 1);
        let queries = unit_vectors(100, dim, 2);
        let g = Hnsw::build(&data, dim, HnswParams::default());
        let mut hit = 0;
        for q in queries.chunks(dim) {
            let truth = exact(&data, dim, q, 10);
            let got: Vec<u32> = g
                .search(&data, dim, q, 10, 64)
                .into_iter()
                .map(|x| x.0)
                .collect();
            hit += truth.iter().filter(|t| got.contains(t)).count();
        }
        let recall = hit as f64 / 1000.0;
        assert!(recall >= 0.95, "recall@10 = {recall}");
    }

    #[test]
    fn every_vector_finds_itself() {
        let dim = 16;
        let data = unit_vectors(500, dim, 3);
        let g = Hnsw::build(&data, dim, HnswParams::default());
        for (i, q) in data.chunks(dim).enumerate() {
            assert_eq!(g.search(&data, dim, q, 1, 32)[0].0, i as u32);
        }
    }

    #[test]
    fn bytes_round_trip_and_damage_is_detected() {
        let dim = 8;
        let data = unit_vectors(200, dim, 4);
        let g = Hnsw::build(&data, dim, HnswParams::default());
        let bytes = g.to_bytes();
        assert_eq!(Hnsw::from_bytes(&bytes, 200).unwrap(), g);
        assert!(Hnsw::from_bytes(&bytes[..bytes.len() - 4], 200).is_err());
        assert!(Hnsw::from_bytes(&bytes, 201).is_err());
        assert!(Hnsw::from_bytes(b"garbage", 200).is_err());
    }

    #[test]
    fn builds_are_reproducible() {
        let dim = 8;
        let data = unit_vectors(300, dim, 5);
        assert_eq!(
            Hnsw::build(&data, dim, HnswParams::default()),
            Hnsw::build(&data, dim, HnswParams::default())
        );
    }
}
