//! Recall@1/3/5 of BM25, dense (all-MiniLM-L6-v2) and hybrid (RRF) retrieval on the
//! mini-wiki QA set, with the question itself as the query.
//!
//! cargo run --release -p sigil-examples --bin retrieval_recall
//!
//! recall@k = the share of a question's gold passages among the top k, averaged over
//! questions; reported for all questions and for the two-hop ones (two gold passages,
//! the second usually not named by the question).

use sigil_examples::wiki::{gold_ids, qa_set, recall, wiki_index};
use sigil_index::IndexKind;

const KS: [usize; 3] = [1, 3, 5];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let qa = qa_set()?;
    let two_hop = qa.iter().filter(|e| gold_ids(e).len() > 1).count();
    println!(
        "mini_wiki: {} questions ({} one-hop, {two_hop} two-hop)",
        qa.len(),
        qa.len() - two_hop
    );
    println!("| retriever | recall@1 | recall@3 | recall@5 | two-hop recall@5 |");
    println!("|---|---|---|---|---|");
    for kind in [IndexKind::Bm25, IndexKind::Dense, IndexKind::Hybrid] {
        let index = wiki_index(kind).await?;
        let mut sums = [0.0f64; 3];
        let mut two_hop_sum = 0.0;
        for e in &qa {
            let question = e.get_str("question").unwrap_or_default();
            let gold = gold_ids(e);
            let found: Vec<String> = index
                .retrieve(&question, 5)
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect();
            for (i, k) in KS.iter().enumerate() {
                sums[i] += recall(&gold, &found[..found.len().min(*k)]);
            }
            if gold.len() > 1 {
                two_hop_sum += recall(&gold, &found);
            }
        }
        let n = qa.len() as f64;
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            index.name(),
            sums[0] / n,
            sums[1] / n,
            sums[2] / n,
            two_hop_sum / two_hop.max(1) as f64
        );
    }
    Ok(())
}
