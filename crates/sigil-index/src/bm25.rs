//! The lexical index: BM25 over the corpus with tantivy (English stemming), stored in
//! `<dir>/tantivy/` beside the manifest.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::{Map, Value};
use sigil::retrieve::{Passage, RetrieveError, Retriever};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::{Index, IndexReader, IndexWriter, TantivyDocument, Term, doc};

use crate::manifest::{Manifest, Staging, check_replaceable};
use crate::{Corpus, IndexError, IndexKind};

const TANTIVY_DIR: &str = "tantivy";
/// tantivy's minimum per-thread indexing memory is 15 MB; one thread keeps doc order.
const WRITER_MEMORY: usize = 32_000_000;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    content: Field,
    text: Field,
    meta: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STRING | STORED);
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("en_stem")
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let content = b.add_text_field(
        "content",
        TextOptions::default().set_indexing_options(indexing),
    );
    let text = b.add_text_field("text", STORED);
    let meta = b.add_text_field("meta", STORED);
    (
        b.build(),
        Fields {
            id,
            content,
            text,
            meta,
        },
    )
}

/// A BM25 index over a corpus.
pub struct Bm25Index {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    manifest: Manifest,
}

impl Bm25Index {
    /// Builds the index of `corpus` into `dir` atomically (replacing an older index
    /// there), then opens it.
    pub fn build(corpus: &Corpus, dir: &Path) -> Result<Bm25Index, IndexError> {
        check_replaceable(dir)?;
        let staging = Staging::new(dir)?;
        write_bm25(corpus, staging.path())?;
        staging.commit()?;
        Bm25Index::open(dir)
    }

    /// Opens an index built by [`Bm25Index::build`], checking its manifest.
    pub fn open(dir: &Path) -> Result<Bm25Index, IndexError> {
        let manifest = Manifest::read(dir)?;
        manifest.check(dir, IndexKind::Bm25, None)?;
        let tdir = dir.join(TANTIVY_DIR);
        let index = Index::open_in_dir(&tdir).map_err(|e| IndexError::tantivy(&tdir, e))?;
        let (_, fields) = schema();
        let field_names = ["id", "content", "text", "meta"];
        for name in field_names {
            if index.schema().get_field(name).is_err() {
                return Err(IndexError::damaged(&tdir, format!("no `{name}` field")));
            }
        }
        let reader = index.reader().map_err(|e| IndexError::tantivy(&tdir, e))?;
        let docs = reader.searcher().num_docs() as usize;
        if docs != manifest.documents {
            return Err(IndexError::damaged(
                &tdir,
                format!(
                    "it holds {docs} passages, the manifest says {}",
                    manifest.documents
                ),
            ));
        }
        Ok(Bm25Index {
            dir: dir.to_path_buf(),
            index,
            reader,
            fields,
            manifest,
        })
    }

    /// The manifest the index was opened with.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The `k` best passages for `query` by BM25 (synchronous).
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<Passage>, RetrieveError> {
        let mut analyzer = self
            .index
            .tokenizer_for_field(self.fields.content)
            .map_err(|e| RetrieveError::Index(IndexError::tantivy(&self.dir, e).to_string()))?;
        let mut terms: Vec<String> = Vec::new();
        let mut stream = analyzer.token_stream(query);
        while stream.advance() {
            let t = stream.token().text.clone();
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
        if terms.is_empty() {
            return Err(RetrieveError::Query(format!(
                "{query:?} has no searchable words"
            )));
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.content, t),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Should, q)
            })
            .collect();
        let searcher = self.reader.searcher();
        let err = |e: tantivy::TantivyError| {
            RetrieveError::Index(IndexError::tantivy(&self.dir, e).to_string())
        };
        let hits = searcher
            .search(&BooleanQuery::new(clauses), &TopDocs::with_limit(k))
            .map_err(err)?;
        let mut out = Vec::with_capacity(hits.len());
        for (score, address) in hits {
            let d: TantivyDocument = searcher.doc(address).map_err(err)?;
            let get = |f: Field| {
                d.get_first(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let metadata: Map<String, Value> =
                serde_json::from_str(&get(self.fields.meta)).unwrap_or_default();
            out.push(Passage {
                id: get(self.fields.id),
                text: get(self.fields.text),
                score,
                metadata,
            });
        }
        Ok(out)
    }
}

/// Writes the tantivy index and the manifest of `corpus` into `dir` (no atomicity:
/// callers write into a [`Staging`] directory).
pub(crate) fn write_bm25(corpus: &Corpus, dir: &Path) -> Result<(), IndexError> {
    let tdir = dir.join(TANTIVY_DIR);
    std::fs::create_dir_all(&tdir).map_err(|e| IndexError::io(&tdir, e))?;
    let (schema, f) = schema();
    let index = Index::create_in_dir(&tdir, schema).map_err(|e| IndexError::tantivy(&tdir, e))?;
    let mut writer: IndexWriter = index
        .writer_with_num_threads(1, WRITER_MEMORY)
        .map_err(|e| IndexError::tantivy(&tdir, e))?;
    for d in &corpus.docs {
        let meta = Value::Object(d.passage_metadata()).to_string();
        writer
            .add_document(doc!(
                f.id => d.id.as_str(),
                f.content => d.indexed_text(),
                f.text => d.text.as_str(),
                f.meta => meta,
            ))
            .map_err(|e| IndexError::tantivy(&tdir, e))?;
    }
    writer.commit().map_err(|e| IndexError::tantivy(&tdir, e))?;
    writer
        .wait_merging_threads()
        .map_err(|e| IndexError::tantivy(&tdir, e))?;
    Manifest::new(IndexKind::Bm25, &corpus.hash, corpus.docs.len()).write(dir)
}

#[async_trait]
impl Retriever for Bm25Index {
    fn name(&self) -> &str {
        "bm25"
    }

    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, RetrieveError> {
        self.search(query, k)
    }
}
