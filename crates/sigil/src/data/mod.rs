//! Examples, predictions and datasets.

mod load;

pub use load::{DataError, Dataset, load_csv, load_jsonl};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One record: named values, some of which are inputs and the rest labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Example {
    values: IndexMap<String, Value>,
    /// Names of the keys that are inputs; every other key is a label.
    input_keys: Vec<String>,
}

impl Example {
    /// An empty example.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an example from `(key, value)` pairs, marking `inputs` as the input keys.
    pub fn from_pairs<K: Into<String>, V: Into<Value>>(
        pairs: impl IntoIterator<Item = (K, V)>,
        inputs: &[&str],
    ) -> Self {
        let values = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Example {
            values,
            input_keys: inputs.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Sets a value (chainable); the key is a label unless marked with [`Example::with_inputs`].
    pub fn set(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// Sets an input value (chainable).
    pub fn input(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        if !self.input_keys.contains(&key) {
            self.input_keys.push(key.clone());
        }
        self.values.insert(key, value.into());
        self
    }

    /// Sets a value in place; the key keeps its role (a new key is a label).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.values.insert(key.into(), value.into());
    }

    /// Marks which keys are inputs.
    pub fn with_inputs(mut self, keys: &[&str]) -> Self {
        self.input_keys = keys.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// The value as a string: strings as-is, other values as compact JSON.
    pub fn get_str(&self, key: &str) -> Option<String> {
        self.values.get(key).map(value_to_string)
    }

    /// The keys marked as inputs.
    pub fn input_keys(&self) -> &[String] {
        &self.input_keys
    }

    /// Whether `key` is marked as an input.
    pub fn is_input(&self, key: &str) -> bool {
        self.input_keys.iter().any(|k| k == key)
    }

    /// Only the input keys.
    pub fn inputs(&self) -> Example {
        let values = self
            .values
            .iter()
            .filter(|(k, _)| self.is_input(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Example {
            values,
            input_keys: self.input_keys.clone(),
        }
    }

    /// This example without `key` (its value and its input mark).
    pub fn without(&self, key: &str) -> Example {
        let mut values = self.values.clone();
        values.shift_remove(key);
        Example {
            values,
            input_keys: self
                .input_keys
                .iter()
                .filter(|k| *k != key)
                .cloned()
                .collect(),
        }
    }

    /// Only the label keys.
    pub fn labels(&self) -> IndexMap<String, Value> {
        self.values
            .iter()
            .filter(|(k, _)| !self.is_input(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every value, in insertion order.
    pub fn values(&self) -> &IndexMap<String, Value> {
        &self.values
    }

    /// Every key, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Strings as-is, everything else as compact JSON.
pub fn value_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The outputs of a module call, plus what happened on the way.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    values: IndexMap<String, Value>,
    /// LM usage summed over every call made to produce this prediction.
    #[serde(default)]
    pub usage: crate::lm::Usage,
    /// How many times an adapter fallback (Chat -> JSON) was used.
    #[serde(default)]
    pub fallbacks: u32,
    /// How many LM calls were made.
    #[serde(default)]
    pub lm_calls: u32,
}

impl Prediction {
    /// A prediction of these outputs, with no usage recorded.
    pub fn new(values: IndexMap<String, Value>) -> Self {
        Prediction {
            values,
            ..Default::default()
        }
    }
    /// The output `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }
    /// The output as a string: strings as-is, other values as compact JSON.
    pub fn get_str(&self, key: &str) -> Option<String> {
        self.values.get(key).map(value_to_string)
    }
    /// Every output, in order.
    pub fn values(&self) -> &IndexMap<String, Value> {
        &self.values
    }
    /// Sets an output.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.values.insert(key.into(), value.into());
    }
    /// Adds usage, call and fallback counts from a sub-call.
    pub fn absorb_stats(&mut self, other: &Prediction) {
        self.usage.add(&other.usage);
        self.fallbacks += other.fallbacks;
        self.lm_calls += other.lm_calls;
    }
    /// An example whose inputs are `inputs` and whose labels are this prediction's outputs (a demo).
    pub fn to_demo(&self, inputs: &Example) -> Example {
        let mut ex = inputs.inputs();
        for (k, v) in &self.values {
            ex.insert(k.clone(), v.clone());
        }
        ex
    }
}
