//! Token data for language models: any file as a stream of byte tokens, and a seeded
//! Markov source whose entropy rate is computed exactly.
//!
//! Both become a [`Dataset`] whose examples are windows of `context + 1` tokens (the
//! model reads the first `context` and predicts the last `context`), stored as token
//! ids in `x` so that the rest of batchbench (upload, seeded order, gathering batches
//! by index) treats them like any other example. `y` holds each window's last token;
//! the language model does not use it.
//!
//! Windows: consecutive, non-overlapping runs of `context` predictions (each window
//! shares its first token with the previous window's last), starting at an offset in
//! `0..context` drawn from `data_seed` for the training stream and at 0 for the test
//! stream; the run seed then shuffles the training windows every pass. So the data is
//! the same for every run of a suite, and the order is the run's own.
//!
//! Why a Markov source: its best achievable test loss is known. The entropy rate
//! h = Σ_s π(s) H(P(·|s)) follows from the stationary distribution π over histories;
//! a window's first predictions see fewer than `order` tokens of history, so the
//! floor of the mean loss over a window is (Σ_{t=1..C} H(X_t | t tokens)) / C, with
//! H(X_t | t tokens) = H_{t+1} − H_t (entropies of stationary t-grams) for t < order
//! and h after. Both are recorded; a model's test loss can then be read as a distance
//! from the optimum, not just a number.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{DataFile, Dataset, DatasetName, DatasetSpec, Normalization, Split};

/// The most (history, next token) pairs a Markov source may have: vocab^(order+1).
pub const MAX_MARKOV_TRANSITIONS: u64 = 1 << 20;
/// The largest text file read.
pub const MAX_TEXT_BYTES: u64 = 1 << 32;

/// What a token dataset is, for the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TextInfo {
    /// Tokens predicted per window.
    pub context: usize,
    /// Vocabulary size (256 for bytes).
    pub vocab: usize,
    /// Tokens in the training stream.
    pub train_tokens: u64,
    /// Tokens in the test stream.
    pub test_tokens: u64,
    /// synthetic-text: the source's entropy rate, nats per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entropy_rate_nats: Option<f64>,
    /// synthetic-text: the best achievable mean test loss over a window, nats (above
    /// the entropy rate by what the window's first tokens cannot know).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_floor_nats: Option<f64>,
}

/// The offset of the first training window, from the data seed.
pub fn train_offset(data_seed: u64, context: usize) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(data_seed);
    rng.set_stream(7);
    rng.random_range(0..context)
}

/// Windows of `context + 1` tokens in a stream of `len` tokens from `offset`.
pub fn window_count(len: u64, context: u64, offset: u64) -> u64 {
    if len < offset + context + 1 {
        0
    } else {
        (len - offset - 1) / context
    }
}

/// The windows of `tokens` from `offset`, as a split.
pub fn windows(tokens: &[u32], context: usize, offset: usize) -> Split {
    let n = window_count(tokens.len() as u64, context as u64, offset as u64) as usize;
    let mut x = Vec::with_capacity(n * (context + 1));
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let w = &tokens[offset + i * context..offset + i * context + context + 1];
        x.extend(w.iter().map(|&t| t as f32));
        y.push(w[context]);
    }
    Split { x, y }
}

/// (train tokens, test tokens) of a file of `len` bytes.
pub fn text_split(len: u64, test_fraction: f64) -> (u64, u64) {
    let test = ((len as f64) * test_fraction).round() as u64;
    (len - test.min(len), test.min(len))
}

/// The resolved path of a `text` dataset's file.
pub fn text_path(
    spec: &DatasetSpec,
    suite_dir: Option<&Path>,
) -> Result<std::path::PathBuf, String> {
    let p = spec
        .path
        .as_deref()
        .ok_or("text needs `path`: the file to read as tokens")?;
    let p = std::path::PathBuf::from(p);
    Ok(match suite_dir {
        Some(base) if p.is_relative() => base.join(p),
        _ => p,
    })
}

/// The size of a text dataset's file, or a clear error.
pub fn text_len(path: &Path) -> Result<u64, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "text file {} cannot be read ({e}); `path` names the file whose bytes are the tokens",
            path.display()
        )
    })?;
    if !meta.is_file() {
        return Err(format!(
            "{} is not a file; text reads one file",
            path.display()
        ));
    }
    if meta.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "{}: {} bytes is more than batchbench reads ({MAX_TEXT_BYTES})",
            path.display(),
            meta.len()
        ));
    }
    Ok(meta.len())
}

/// Loads a `text` dataset: the file's bytes are the tokens; its end is the test split.
pub fn load_text(spec: &DatasetSpec, suite_dir: Option<&Path>) -> anyhow::Result<Dataset> {
    let path = text_path(spec, suite_dir).map_err(anyhow::Error::msg)?;
    text_len(&path).map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(&path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let context = spec.context() as usize;
    let (n_train, _) = text_split(bytes.len() as u64, spec.test_fraction());
    let tokens: Vec<u32> = bytes.iter().map(|&b| u32::from(b)).collect();
    let (train, test) = tokens.split_at(n_train as usize);
    let train_split = windows(train, context, train_offset(spec.data_seed(), context));
    let test_split = windows(test, context, 0);
    if train_split.is_empty() || test_split.is_empty() {
        anyhow::bail!(
            "{}: {} bytes make no window of context + 1 = {} tokens in {} (lower context or test_fraction, or use a longer file)",
            path.display(),
            bytes.len(),
            context + 1,
            if train_split.is_empty() {
                "the training part"
            } else {
                "the test part"
            }
        );
    }
    Ok(Dataset {
        name: DatasetName::Text,
        train: train_split,
        test: test_split,
        features: context + 1,
        image: None,
        classes: 256,
        normalization: Normalization::identity(),
        files: vec![DataFile::of(&path, &bytes)],
        source: path.display().to_string(),
        text: Some(TextInfo {
            context,
            vocab: 256,
            train_tokens: train.len() as u64,
            test_tokens: test.len() as u64,
            entropy_rate_nats: None,
            loss_floor_nats: None,
        }),
    })
}

/// A stationary Markov source of order `order` over `vocab` tokens.
#[derive(Clone, Debug)]
pub struct Markov {
    /// Vocabulary size.
    pub vocab: usize,
    /// Tokens of history.
    pub order: usize,
    /// `P(next | history)`, `vocab` values per history; a history is a base-`vocab`
    /// number with the most recent token least significant.
    pub probs: Vec<f64>,
    /// The stationary distribution over histories.
    pub stationary: Vec<f64>,
}

fn entropy(p: &[f64]) -> f64 {
    p.iter().filter(|&&q| q > 0.0).map(|&q| -q * q.ln()).sum()
}

impl Markov {
    /// Draws the transition probabilities from `seed`: each history's next-token
    /// logits are `sharpness` × standard normal values, then a softmax.
    pub fn new(vocab: usize, order: usize, sharpness: f64, seed: u64) -> Self {
        let states = vocab.pow(order as u32);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut probs = Vec::with_capacity(states * vocab);
        for _ in 0..states {
            let logits: Vec<f64> = (0..vocab)
                .map(|_| sharpness * rng.sample::<f64, _>(StandardNormal))
                .collect();
            let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            probs.extend(e.iter().map(|v| v / sum));
        }
        let mut m = Markov {
            vocab,
            order,
            probs,
            stationary: vec![1.0 / states as f64; states],
        };
        m.stationary = m.solve_stationary();
        m
    }

    fn states(&self) -> usize {
        self.vocab.pow(self.order as u32)
    }

    fn next_state(&self, state: usize, token: usize) -> usize {
        (state * self.vocab + token) % self.states()
    }

    /// Power iteration to a fixed point (every transition has positive probability,
    /// so the chain is irreducible and aperiodic and the iteration converges).
    fn solve_stationary(&self) -> Vec<f64> {
        let states = self.states();
        let mut pi = vec![1.0 / states as f64; states];
        for _ in 0..100_000 {
            let mut next = vec![0.0; states];
            for (s, &mass) in pi.iter().enumerate() {
                let row = &self.probs[s * self.vocab..(s + 1) * self.vocab];
                for (t, &p) in row.iter().enumerate() {
                    next[self.next_state(s, t)] += mass * p;
                }
            }
            let change: f64 = next.iter().zip(&pi).map(|(a, b)| (a - b).abs()).sum();
            pi = next;
            if change < 1e-14 {
                break;
            }
        }
        pi
    }

    /// Entropy rate, nats per token.
    pub fn entropy_rate(&self) -> f64 {
        self.stationary
            .iter()
            .enumerate()
            .map(|(s, &mass)| mass * entropy(&self.probs[s * self.vocab..(s + 1) * self.vocab]))
            .sum()
    }

    /// Entropy of the stationary distribution of `m` consecutive tokens (m ≤ order).
    fn block_entropy(&self, m: usize) -> f64 {
        let groups = self.vocab.pow(m as u32);
        let mut marginal = vec![0.0; groups];
        for (s, &mass) in self.stationary.iter().enumerate() {
            marginal[s % groups] += mass;
        }
        entropy(&marginal)
    }

    /// The best achievable mean loss over the `context` predictions of a window.
    pub fn window_floor(&self, context: usize) -> f64 {
        let h = self.entropy_rate();
        let total: f64 = (1..=context)
            .map(|t| {
                if t >= self.order {
                    h
                } else {
                    self.block_entropy(t + 1) - self.block_entropy(t)
                }
            })
            .sum();
        total / context as f64
    }

    /// `n` tokens from the stationary chain (the first history drawn from π).
    pub fn sample(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<u32> {
        let pick = |weights: &[f64], rng: &mut ChaCha8Rng| -> usize {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            for (i, &w) in weights.iter().enumerate() {
                acc += w;
                if u < acc {
                    return i;
                }
            }
            weights.len() - 1
        };
        let mut state = pick(&self.stationary, rng);
        let mut out = Vec::with_capacity(n);
        // The history's own tokens come first, oldest first.
        for i in (0..self.order).rev() {
            out.push(((state / self.vocab.pow(i as u32)) % self.vocab) as u32);
        }
        while out.len() < n {
            let t = pick(
                &self.probs[state * self.vocab..(state + 1) * self.vocab],
                rng,
            );
            out.push(t as u32);
            state = self.next_state(state, t);
        }
        out.truncate(n);
        out
    }
}

/// Generates a `synthetic-text` dataset.
pub fn generate(spec: &DatasetSpec) -> Dataset {
    let (vocab, order) = (spec.vocab() as usize, spec.order() as usize);
    let context = spec.context() as usize;
    let source = Markov::new(vocab, order, spec.sharpness(), spec.data_seed());
    let mut rng = ChaCha8Rng::seed_from_u64(spec.data_seed());
    rng.set_stream(1);
    let (n_train, n_test) = (spec.train_tokens() as usize, spec.test_tokens() as usize);
    let tokens = source.sample(n_train + n_test, &mut rng);
    let (train, test) = tokens.split_at(n_train);
    let mut hash = Sha256::new();
    tokens.iter().for_each(|t| hash.update(t.to_le_bytes()));
    Dataset {
        name: DatasetName::SyntheticText,
        train: windows(train, context, train_offset(spec.data_seed(), context)),
        test: windows(test, context, 0),
        features: context + 1,
        image: None,
        classes: vocab,
        normalization: Normalization::identity(),
        files: vec![DataFile {
            name: format!(
                "generated:synthetic-text(vocab={vocab},order={order},sharpness={},train={n_train},test={n_test},seed={})",
                spec.sharpness(),
                spec.data_seed()
            ),
            sha256: hex::encode(hash.finalize()),
        }],
        source: "generated".into(),
        text: Some(TextInfo {
            context,
            vocab,
            train_tokens: n_train as u64,
            test_tokens: n_test as u64,
            entropy_rate_nats: Some(source.entropy_rate()),
            loss_floor_nats: Some(source.window_floor(context)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_entropy_rate_matches_a_long_sample() {
        for (vocab, order, sharpness) in [(16, 2, 2.0), (8, 1, 1.0), (4, 3, 3.0)] {
            let m = Markov::new(vocab, order, sharpness, 5);
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            let tokens = m.sample(2_000_000, &mut rng);
            // Plug-in estimate of H(next | previous `order` tokens).
            let states = vocab.pow(order as u32);
            let mut counts = vec![0u64; states * vocab];
            let mut state = 0usize;
            for (i, &t) in tokens.iter().enumerate() {
                if i >= order {
                    counts[state * vocab + t as usize] += 1;
                }
                state = (state * vocab + t as usize) % states;
            }
            let total: u64 = counts.iter().sum();
            let mut h = 0.0;
            for s in 0..states {
                let row = &counts[s * vocab..(s + 1) * vocab];
                let n: u64 = row.iter().sum();
                for &c in row.iter().filter(|&&c| c > 0) {
                    h -= c as f64 / total as f64 * (c as f64 / n as f64).ln();
                }
            }
            let exact = m.entropy_rate();
            assert!(
                (h - exact).abs() / exact < 0.01,
                "vocab {vocab} order {order}: empirical {h} vs computed {exact}"
            );
            // The window floor lies between the entropy rate and log(vocab).
            let floor = m.window_floor(32);
            assert!(floor >= exact && floor <= (vocab as f64).ln(), "{floor}");
        }
    }

    #[test]
    fn uniform_source_has_log_vocab_entropy() {
        let m = Markov::new(16, 2, 0.0, 1);
        assert!((m.entropy_rate() - 16f64.ln()).abs() < 1e-9);
        assert!((m.window_floor(8) - 16f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn windows_share_their_boundary_token_and_cover_the_stream() {
        let tokens: Vec<u32> = (0..20).collect();
        let s = windows(&tokens, 4, 1);
        assert_eq!(window_count(20, 4, 1), 4);
        assert_eq!(s.len(), 4);
        assert_eq!(&s.x[..5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(&s.x[5..10], &[5.0, 6.0, 7.0, 8.0, 9.0]);
        assert_eq!(s.y[0], 5);
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    fn spec(path: &Path, context: u64) -> DatasetSpec {
        DatasetSpec {
            path: Some(path.display().to_string()),
            context: Some(context),
            ..DatasetSpec::of(DatasetName::Text)
        }
        .resolved()
    }

    #[test]
    fn a_file_becomes_byte_windows_with_the_counts_validate_predicts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.txt");
        let text: Vec<u8> = (0..10_000u32)
            .map(|i| b"the quick brown fox "[(i % 20) as usize])
            .collect();
        std::fs::write(&path, &text).unwrap();
        let s = spec(&path, 16);
        let data = load_text(&s, None).unwrap();
        let shape = crate::data::shape(&s, None).unwrap();
        assert_eq!(
            (data.train.len() as u64, data.test.len() as u64),
            (shape.train, shape.test)
        );
        assert_eq!(shape.context, Some(16));
        assert_eq!((data.features, data.classes), (17, 256));
        let info = data.text.as_ref().unwrap();
        assert_eq!((info.train_tokens, info.test_tokens), (9_000, 1_000));
        assert_eq!(info.entropy_rate_nats, None, "unknown for a file");
        // Token ids are the bytes; the test split is the file's end.
        let first_test = &data.test.x[..17];
        let expected: Vec<f32> = text[9_000..9_017].iter().map(|&b| f32::from(b)).collect();
        assert_eq!(first_test, &expected[..]);
        assert_eq!(data.files[0].name, "corpus.txt");
    }

    #[test]
    fn a_missing_or_short_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.txt");
        let e = crate::data::shape(&spec(&missing, 16), None).unwrap_err();
        assert!(e.contains("nope.txt cannot be read"), "{e}");
        let short = dir.path().join("short.txt");
        std::fs::write(&short, b"tiny").unwrap();
        let e = crate::data::shape(&spec(&short, 16), None).unwrap_err();
        assert!(
            e.contains("too short for one window of context + 1 = 17 tokens"),
            "{e}"
        );
        let e = load_text(&spec(&short, 16), None).unwrap_err().to_string();
        assert!(
            e.contains("make no window of context + 1 = 17 tokens"),
            "{e}"
        );
    }
}
