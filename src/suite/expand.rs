//! Matrix expansion and resolution of each combination into a [`RunSpec`].
//!
//! `include` and `exclude` follow CI matrices (GitHub Actions): an `exclude` entry
//! removes every combination that has all of its values; an `include` entry whose
//! matrix-axis values match existing combinations adds its other settings to them,
//! and otherwise becomes a combination of its own.

use std::collections::HashMap;

use super::checks::MAX_EPOCHS;
use super::located::Located;
use super::schema::*;
use super::spec::RunSpec;
use super::{Suite, SuiteError};
use crate::data::{self, DataShape};

/// The warm-up limit when a suite sets `timeout_s` but not `warmup_timeout_s`: a
/// cold CUDA start compiled and autotuned one MLP shape for more than 100 s on an
/// H100 (ARCHITECTURE.md), and a ResNet has many more kernels.
pub const DEFAULT_WARMUP_TIMEOUT_S: f64 = 1800.0;

/// The largest effective learning rate, after a scaling rule, as for a written `lr`.
pub const MAX_LR: f64 = 100.0;

/// Evaluation points a run may have (each is a point of its record's curve).
pub const MAX_EVAL_POINTS: u64 = 10_000;

/// Trainable parameters a model may have: 10⁹ f32 weights are 4 GB, and training
/// holds gradients and optimizer state beside them.
pub const MAX_PARAMETERS: u64 = 1_000_000_000;

/// Runs a suite may expand to; more is almost certainly a mistake in the matrix.
pub const MAX_RUNS: usize = 100_000;

impl Suite {
    /// Expands the matrix into runs, in matrix order (the last axis varies fastest).
    pub fn expand(&self) -> Result<Vec<RunSpec>, SuiteError> {
        let f = &self.file;
        let mut base = builtin_defaults();
        if let Some(defaults) = &f.defaults {
            base.overlay(defaults);
        }
        let axes = f.matrix.as_ref().map(Matrix::axes).unwrap_or_default();
        let axis_names: Vec<&str> = axes.iter().map(|(name, _, _)| *name).collect();

        let mut combos = vec![Settings::default()];
        for (name, position, values) in &axes {
            if values.is_empty() {
                return Err(self.error_at(
                    *position,
                    format!("matrix.{name}"),
                    "the list is empty; give at least one value or remove the axis",
                ));
            }
            let count = combos.len().saturating_mul(values.len());
            if count > MAX_RUNS {
                return Err(self.error_at(
                    *position,
                    format!("matrix.{name}"),
                    format!("the matrix expands to more than {MAX_RUNS} runs; split the study into several suites"),
                ));
            }
            combos = combos
                .iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.overlay(v);
                        c
                    })
                })
                .collect();
        }

        // Combination `c` of the product holds value `(c / stride[a]) % len[a]` of axis
        // `a` (the last axis varies fastest); `positions` are the product positions of
        // the combinations that remain after `exclude`.
        let lens: Vec<usize> = axes.iter().map(|(_, _, values)| values.len()).collect();
        let mut stride = vec![1; lens.len()];
        for a in (0..lens.len().saturating_sub(1)).rev() {
            stride[a] = stride[a + 1] * lens[a + 1];
        }
        let mut positions: Vec<usize> = (0..combos.len()).collect();

        // Exclude entries, as (axis, value index) patterns. The matching is one pass
        // over the combinations with a hash lookup per distinct set of named axes,
        // so a long exclude list costs no more than a short one (comparing every
        // entry with every combination took seconds for thousands of entries).
        let mut patterns: Vec<Option<Vec<(usize, u32)>>> = Vec::new();
        let excludes: Vec<&Located<Settings>> = f.exclude.iter().flatten().collect();
        for (i, entry) in excludes.iter().enumerate() {
            let fields = entry.value.set_fields();
            if fields.is_empty() {
                return Err(self.error_at(
                    entry.position,
                    format!("exclude[{i}]"),
                    "the entry is empty; name the axis values to leave out",
                ));
            }
            if let Some(bad) = fields.iter().find(|n| !axis_names.contains(n)) {
                return Err(self.error_at(
                    entry.value.position_of(bad).or(entry.position),
                    format!("exclude[{i}].{bad}"),
                    format!(
                        "`{bad}` is not a matrix axis; exclude entries may only name axes ({})",
                        list_or_none(&axis_names)
                    ),
                ));
            }
            // `None`: a value that is not on its axis, so the entry matches nothing.
            let pattern: Option<Vec<(usize, u32)>> = fields
                .iter()
                .map(|name| {
                    let axis = axis_names.iter().position(|a| a == name)?;
                    let k = value_number(&axes[axis].2, &entry.value, name)?;
                    Some((axis, k as u32))
                })
                .collect();
            patterns.push(pattern.map(|mut p| {
                p.sort_unstable();
                p
            }));
        }
        if !excludes.is_empty() {
            // Per set of named axes: the value indices → the first entry naming them.
            let mut groups: HashMap<Vec<usize>, HashMap<Vec<u32>, usize>> = HashMap::new();
            for (i, p) in patterns.iter().enumerate() {
                if let Some(p) = p {
                    let (names, values): (Vec<usize>, Vec<u32>) = p.iter().copied().unzip();
                    groups.entry(names).or_default().entry(values).or_insert(i);
                }
            }
            // An entry is needed when some combination it matches is matched by no
            // earlier entry (what removing entries one after the other would find).
            let mut needed = vec![false; excludes.len()];
            let mut keep = Vec::with_capacity(combos.len());
            for c in 0..combos.len() {
                let first = groups
                    .iter()
                    .filter_map(|(names, entries)| {
                        let values: Vec<u32> = names
                            .iter()
                            .map(|&a| ((c / stride[a]) % lens[a]) as u32)
                            .collect();
                        entries.get(&values).copied()
                    })
                    .min();
                if let Some(e) = first {
                    needed[e] = true;
                }
                keep.push(first.is_none());
            }
            if let Some(i) = needed.iter().position(|n| !n) {
                return Err(self.error_at(
                    excludes[i].position,
                    format!("exclude[{i}]"),
                    "matches no combination of the matrix; check its values",
                ));
            }
            positions.retain(|&c| keep[c]);
            let mut keep = keep.into_iter();
            combos.retain(|_| keep.next().unwrap_or(true));
        }

        let includes: Vec<&Settings> = f.include.iter().flatten().map(|e| &e.value).collect();
        if axis_names.is_empty() && !includes.is_empty() {
            // Without axes, each include entry is a run of its own (as in CI matrices).
            combos = includes.into_iter().cloned().collect();
        } else if !includes.is_empty() {
            let values = axes.iter().map(|(_, _, v)| v.clone()).collect();
            let cells = positions
                .iter()
                .map(|&c| {
                    (0..lens.len())
                        .map(|a| Some(((c / stride[a]) % lens[a]) as u32))
                        .collect()
                })
                .collect();
            let mut index = IncludeIndex::new(&axis_names, values, cells);
            for entry in includes {
                let other: Vec<&str> = entry
                    .set_fields()
                    .into_iter()
                    .filter(|n| !axis_names.contains(n))
                    .collect();
                let extra = entry.only(&other);
                let matched = index.matching(entry);
                for &c in &matched {
                    combos[c].overlay(&extra);
                }
                if matched.is_empty() {
                    index.push(entry);
                    combos.push(entry.clone());
                }
            }
        }

        if combos.is_empty() {
            return Err(self.error_at(
                None,
                "matrix",
                "the matrix expands to no runs (every combination is excluded)",
            ));
        }

        let mut runs: Vec<RunSpec> = Vec::with_capacity(combos.len());
        let mut keys = std::collections::HashMap::new();
        for combo in &combos {
            let mut merged = base.clone();
            merged.overlay(combo);
            let run = self.resolve(&merged)?;
            let key = run.key();
            if let Some(previous) = keys.insert(key.clone(), runs.len()) {
                let previous: &RunSpec = &runs[previous];
                return Err(self.error_at(
                    None,
                    "include",
                    format!("two combinations define the same run ({}); remove the duplicate include entry", previous.label()),
                ));
            }
            runs.push(run);
        }
        Ok(runs)
    }

    /// Resolves merged settings into a run, checking what needs several settings.
    fn resolve(&self, s: &Settings) -> Result<RunSpec, SuiteError> {
        let missing = |name: &str| {
            self.error_at(
                None,
                name,
                format!("missing setting `{name}`; set it under `defaults:` or list it as a `matrix:` axis"),
            )
        };
        let at = |name: &str, message: String| {
            self.error_at(
                s.position_of(name),
                s.path_of(name).unwrap_or_else(|| name.to_string()),
                message,
            )
        };

        let dataset = s
            .dataset
            .as_ref()
            .ok_or_else(|| missing("dataset"))?
            .value
            .resolved();
        let model = s
            .model
            .as_ref()
            .ok_or_else(|| missing("model"))?
            .value
            .resolved();
        let batch_size = s
            .batch_size
            .as_ref()
            .ok_or_else(|| missing("batch_size"))?
            .value;
        let lr_base = s.lr.as_ref().ok_or_else(|| missing("lr"))?.value;

        let shape: DataShape =
            data::shape(&dataset, self.path.parent()).map_err(|m| at("dataset", m))?;
        let train = shape.train;

        let accumulate = value(&s.accumulate).unwrap_or(1);
        let check_batch = |b: u64, field: &str| -> Result<(), SuiteError> {
            if b > train {
                return Err(at(
                    field,
                    format!(
                        "batch size {b} is larger than the training set ({train} examples of {}); use at most {train}",
                        dataset.name
                    ),
                ));
            }
            if b % accumulate != 0 {
                return Err(at(
                    field,
                    format!(
                        "batch size {b} is not a multiple of accumulate ({accumulate}); the micro-batch must be a whole number of examples"
                    ),
                ));
            }
            Ok(())
        };
        check_batch(batch_size, "batch_size")?;
        let batch_schedule = value(&s.batch_schedule);
        for step in batch_schedule.iter().flatten() {
            check_batch(step.batch_size, "batch_schedule")?;
        }

        let lr_scaling = value(&s.lr_scaling).unwrap_or_default();
        let base_batch = value(&s.base_batch);
        if lr_scaling != LrScaling::None && base_batch.is_none() {
            return Err(at(
                "lr_scaling",
                format!("{lr_scaling:?} scaling needs `base_batch`, the batch size at which `lr` applies").to_lowercase(),
            ));
        }
        let lr = lr_scaling.scale(lr_base, batch_size, base_batch.unwrap_or(batch_size));
        let scaled_max = batch_schedule
            .iter()
            .flatten()
            .map(|b| lr_scaling.scale(lr_base, b.batch_size, base_batch.unwrap_or(batch_size)))
            .fold(lr, f64::max);
        if !(scaled_max.is_finite() && scaled_max <= MAX_LR) {
            return Err(at(
                "lr_scaling",
                format!(
                    "{} scaling of lr {} from batch {} gives a learning rate of {} at batch {batch_size}; the effective learning rate must be ≤ {MAX_LR}, as a written lr is (lower lr or base_batch's ratio)",
                    format!("{lr_scaling:?}").to_lowercase(),
                    crate::fmt::lr(lr_base),
                    base_batch.unwrap_or(batch_size),
                    crate::fmt::lr(scaled_max)
                ),
            ));
        }

        let (epochs, samples) = match (value(&s.epochs), value(&s.samples)) {
            (Some(_), Some(_)) => {
                return Err(at(
                    "samples",
                    "set the budget with `epochs` or `samples`, not both".into(),
                ));
            }
            (None, None) => {
                return Err(self.error_at(
                    None,
                    "epochs",
                    "missing the training budget; set `epochs` or `samples` under `defaults:` or as a `matrix:` axis",
                ));
            }
            (Some(e), None) => (e, (e * train as f64).round() as u64),
            (None, Some(n)) => (n as f64 / train as f64, n),
        };
        if epochs > MAX_EPOCHS {
            return Err(at(
                "samples",
                format!(
                    "{samples} samples is {epochs:.0} epochs of this dataset; at most {MAX_EPOCHS} epochs are allowed"
                ),
            ));
        }
        if samples < batch_size {
            return Err(at(
                "epochs",
                format!(
                    "the budget ({samples} examples) is smaller than one batch ({batch_size}); raise epochs or samples"
                ),
            ));
        }
        let warmup_epochs = value(&s.warmup_epochs).unwrap_or(0.0);
        if warmup_epochs >= epochs && warmup_epochs > 0.0 {
            return Err(at(
                "warmup_epochs",
                format!(
                    "warm-up ({warmup_epochs} epochs) must be shorter than the budget ({epochs} epochs)"
                ),
            ));
        }
        if let Some(step) = batch_schedule.iter().flatten().find(|b| b.epoch >= epochs) {
            return Err(at(
                "batch_schedule",
                format!(
                    "the step at epoch {} is at or past the end of the budget ({epochs} epochs)",
                    step.epoch
                ),
            ));
        }

        let eval_every = value(&s.eval_every).unwrap_or(1.0);
        let eval_points = epochs / eval_every;
        if eval_points > MAX_EVAL_POINTS as f64 {
            return Err(at(
                "eval_every",
                format!(
                    "evaluating every {eval_every} epochs over {epochs} epochs is {eval_points:.0} evaluations; at most {MAX_EVAL_POINTS} are allowed (each is a point of the record's curve): raise eval_every"
                ),
            ));
        }
        let eval_train_samples = value(&s.eval_train_samples).unwrap_or(train.min(10_000));
        if eval_train_samples > train {
            return Err(at(
                "eval_train_samples",
                format!("{eval_train_samples} is larger than the training set ({train} examples)"),
            ));
        }

        if model.kind == ModelKind::Cnn {
            let Some([_, h, w]) = shape.image else {
                return Err(at(
                    "model",
                    format!(
                        "a cnn needs image data; {} is not an image dataset (use mlp or logreg, or give a synthetic dataset a `shape`)",
                        dataset.name
                    ),
                ));
            };
            let blocks = model.channels.as_ref().map_or(0, Vec::len) as u32;
            if h >> blocks == 0 || w >> blocks == 0 {
                return Err(at(
                    "model",
                    format!(
                        "{blocks} conv + pool blocks halve {h}×{w} images to nothing; use at most {} blocks",
                        (h.min(w) as f64).log2().floor()
                    ),
                ));
            }
        }

        let tokens = shape.context.is_some();
        match model.kind {
            ModelKind::Transformer if !tokens => {
                return Err(at(
                    "model",
                    format!(
                        "a transformer needs token data; {} is not (use text or synthetic-text)",
                        dataset.name
                    ),
                ));
            }
            ModelKind::Transformer => {}
            _ if tokens => {
                return Err(at(
                    "model",
                    format!(
                        "{} is token data (a language-modelling task); only model kind transformer trains on it",
                        dataset.name
                    ),
                ));
            }
            ModelKind::Resnet => {
                let Some([_, h, w]) = shape.image else {
                    return Err(at(
                        "model",
                        format!(
                            "a resnet needs image data; {} is not an image dataset (give a synthetic dataset a `shape`)",
                            dataset.name
                        ),
                    ));
                };
                let halvings = model.widths.as_ref().map_or(3, Vec::len) as u32 - 1;
                if h >> halvings == 0 || w >> halvings == 0 {
                    return Err(at(
                        "model",
                        format!(
                            "{} stages halve {h}×{w} images to nothing; use fewer widths",
                            halvings + 1
                        ),
                    ));
                }
            }
            _ => {}
        }
        if let (Some(Norm::Ghost), Some(g)) = (model.norm, model.ghost_batch) {
            let micro = |b: u64| b / accumulate;
            let sizes = std::iter::once(batch_size)
                .chain(batch_schedule.iter().flatten().map(|b| b.batch_size));
            for b in sizes {
                if micro(b) % g != 0 {
                    return Err(at(
                        "model",
                        format!(
                            "ghost_batch {g} does not divide the micro-batch of {} examples (batch {b} / accumulate {accumulate}); ghost batches must split each micro-batch evenly",
                            micro(b)
                        ),
                    ));
                }
            }
        }

        if model.kind == ModelKind::Resnet
            && model.norm != Some(Norm::None)
            && value(&s.probes).is_some()
        {
            return Err(at(
                "probes",
                "probes run forward passes in training mode, which would move a batch-normalized network's running statistics (and so its evaluation); use norm: none with probes, or drop them".into(),
            ));
        }

        let augment = value(&s.augment).filter(|a| !a.is_identity());
        if let Some(a) = augment {
            let Some([_, h, w]) = shape.image else {
                return Err(at(
                    "augment",
                    format!(
                        "augment applies to image data; {} is not an image dataset",
                        dataset.name
                    ),
                ));
            };
            if a.crop >= h.min(w) {
                return Err(at(
                    "augment",
                    format!(
                        "crop {} is not smaller than the {h}×{w} images; use at most {}",
                        a.crop,
                        h.min(w) - 1
                    ),
                ));
            }
        }

        let (target_accuracy, target) = match (value(&s.target_accuracy), value(&s.target)) {
            (Some(_), Some(_)) => {
                return Err(at(
                    "target",
                    "set `target` or `target_accuracy`, not both (target_accuracy: X is target: {metric: test_accuracy, value: X})".into(),
                ));
            }
            (_, Some(t)) if t.metric == TargetMetric::TestAccuracy => (Some(t.value), None),
            (a, t) => (a, t),
        };
        let stop_at_target = value(&s.stop_at_target).unwrap_or(false);
        if stop_at_target && target_accuracy.is_none() && target.is_none() {
            return Err(at(
                "stop_at_target",
                "stop_at_target needs a target to stop at; set target_accuracy or target (e.g. target: {metric: test_loss, value: 1.2})".into(),
            ));
        }

        let parameters = model.parameters(shape.features, shape.image, shape.classes);
        if parameters > MAX_PARAMETERS {
            return Err(at(
                "model",
                format!(
                    "the model has {parameters} trainable parameters ({:.1} GB of f32 weights, more with gradients and optimizer state); at most {MAX_PARAMETERS} are allowed: narrow or remove layers",
                    parameters as f64 * 4e-9
                ),
            ));
        }

        let precision = value(&s.precision).unwrap_or_default();
        let device = value(&s.device).unwrap_or_default();
        if precision != Precision::F32 && device == DeviceRequest::Cpu {
            return Err(at(
                "precision",
                format!(
                    "{} needs CUDA; the CPU backend computes in f32 (use precision: f32 or device: cuda)",
                    precision.as_str()
                ),
            ));
        }
        if precision == Precision::Bf16 && matches!(device, DeviceRequest::Wgpu(_)) {
            return Err(at(
                "precision",
                "bf16 needs CUDA; wgpu computes in f32, or f16 where the adapter's shaders have it (use precision: f32 or f16, or device: cuda)".to_string(),
            ));
        }

        let engine = value(&s.engine).unwrap_or_default();
        if engine != Engine::Burn && matches!(device, DeviceRequest::Wgpu(_)) {
            return Err(at(
                "device",
                format!(
                    "engine {} trains on cpu or cuda; wgpu is a Burn backend (use engine: burn or device: cpu/cuda)",
                    engine.as_str()
                ),
            ));
        }
        if engine != Engine::Burn {
            let unsupported = if precision != Precision::F32 {
                Some(("precision", format!("precision {}", precision.as_str())))
            } else if value(&s.probes).is_some() {
                Some(("probes", "probes".to_string()))
            } else if matches!(model.kind, ModelKind::Resnet | ModelKind::Transformer) {
                Some((
                    "model",
                    format!("model kind {:?}", model.kind).to_lowercase(),
                ))
            } else if augment.is_some() {
                Some(("augment", "augment".to_string()))
            } else if stop_at_target {
                Some(("stop_at_target", "stop_at_target".to_string()))
            } else {
                None
            };
            if let Some((field, what)) = unsupported {
                return Err(at(
                    field,
                    format!(
                        "engine {} does not support {what} (probes, precisions other than f32, resnet, transformer, augmentation and stop_at_target run on engine: burn only); remove it from the {} runs or use engine: burn",
                        engine.as_str(),
                        engine.as_str()
                    ),
                ));
            }
        }

        Ok(RunSpec {
            suite: self.name().to_string(),
            dataset,
            model,
            optimizer: value(&s.optimizer)
                .unwrap_or_else(OptimizerSpec::sgd)
                .resolved(),
            batch_size,
            micro_batch_size: batch_size / accumulate,
            accumulate,
            lr,
            lr_base,
            lr_scaling,
            base_batch: if lr_scaling == LrScaling::None {
                None
            } else {
                base_batch
            },
            lr_schedule: value(&s.lr_schedule).unwrap_or_else(LrSchedule::constant),
            warmup_epochs,
            batch_schedule,
            epochs,
            samples,
            eval_every,
            eval_train_samples,
            target_accuracy,
            target,
            stop_at_target,
            augment,
            precision,
            engine,
            seed: value(&s.seed).unwrap_or(0),
            device,
            timeout_s: value(&s.timeout_s),
            warmup_timeout_s: value(&s.warmup_timeout_s)
                .or(value(&s.timeout_s).map(|_| DEFAULT_WARMUP_TIMEOUT_S)),
            probes: value(&s.probes),
        })
    }
}

/// Finds the combinations an `include` entry matches (those holding every matrix-axis
/// value the entry names) by lookup instead of comparing the entry with every
/// combination: 9,000 entries on a 100,000-run matrix took 14.5 s that way. Axis values
/// are numbered (the matrix's, then values that only include entries bring); one
/// index per distinct set of named axes, built when an entry first names that set and
/// kept up to date as unmatched entries become combinations of their own.
struct IncludeIndex<'a> {
    axis_names: &'a [&'a str],
    /// Per axis, its values as single-setting `Settings`.
    values: Vec<Vec<Settings>>,
    /// Per combination, its value number on each axis (`None`: not set).
    cells: Vec<Vec<Option<u32>>>,
    /// Per set of named axes: value numbers → combinations, in order.
    by_axes: HashMap<Vec<usize>, HashMap<Vec<u32>, Vec<usize>>>,
}

impl<'a> IncludeIndex<'a> {
    fn new(
        axis_names: &'a [&'a str],
        values: Vec<Vec<Settings>>,
        cells: Vec<Vec<Option<u32>>>,
    ) -> Self {
        IncludeIndex {
            axis_names,
            values,
            cells,
            by_axes: HashMap::new(),
        }
    }

    /// The axes `entry` names.
    fn named_axes(&self, entry: &Settings) -> Vec<usize> {
        let fields = entry.set_fields();
        (0..self.axis_names.len())
            .filter(|&a| fields.contains(&self.axis_names[a]))
            .collect()
    }

    /// A combination's value numbers on `axes` (`None` when it leaves one of them unset).
    fn key(row: &[Option<u32>], axes: &[usize]) -> Option<Vec<u32>> {
        axes.iter().map(|&a| row[a]).collect()
    }

    /// The combinations `entry` matches, in order.
    fn matching(&mut self, entry: &Settings) -> Vec<usize> {
        let axes = self.named_axes(entry);
        // `None`: a value on no combination yet, so the entry matches nothing.
        let numbers: Option<Vec<u32>> = axes
            .iter()
            .map(|&a| value_number(&self.values[a], entry, self.axis_names[a]).map(|k| k as u32))
            .collect();
        let cells = &self.cells;
        let index = self.by_axes.entry(axes).or_insert_with_key(|axes| {
            let mut map: HashMap<Vec<u32>, Vec<usize>> = HashMap::new();
            for (c, row) in cells.iter().enumerate() {
                if let Some(key) = Self::key(row, axes) {
                    map.entry(key).or_default().push(c);
                }
            }
            map
        });
        numbers
            .and_then(|n| index.get(&n).cloned())
            .unwrap_or_default()
    }

    /// Adds `entry` as a new combination (numbering any value new to its axis).
    fn push(&mut self, entry: &Settings) {
        let mut row = vec![None; self.axis_names.len()];
        for a in self.named_axes(entry) {
            let values = &mut self.values[a];
            let k = value_number(values, entry, self.axis_names[a]).unwrap_or_else(|| {
                values.push(entry.only(&[self.axis_names[a]]));
                values.len() - 1
            });
            row[a] = Some(k as u32);
        }
        let c = self.cells.len();
        for (axes, map) in &mut self.by_axes {
            if let Some(key) = Self::key(&row, axes) {
                map.entry(key).or_default().push(c);
            }
        }
        self.cells.push(row);
    }
}

/// Where `entry`'s value of axis `name` stands among that axis's `values`.
fn value_number(values: &[Settings], entry: &Settings, name: &str) -> Option<usize> {
    let want = entry.only(&[name]);
    values.iter().position(|v| *v == want)
}

fn builtin_defaults() -> Settings {
    Settings {
        device: Some(Located::builtin(DeviceRequest::Auto)),
        ..Settings::default()
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "there are none".into()
    } else {
        names.join(", ")
    }
}

/// The value of an optional located setting.
fn value<T: Clone>(v: &Option<Located<T>>) -> Option<T> {
    v.as_ref().map(|l| l.value.clone())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::suite::Suite;

    fn expand(exclude: &str) -> Result<Vec<(u64, String)>, String> {
        let text = format!(
            "version: 1\nname: t\ndefaults:\n  dataset: {{name: digits}}\n  model: {{kind: mlp, hidden: [8]}}\n  epochs: 1\nmatrix:\n  batch_size: [8, 16, 32]\n  lr: [0.1, 0.2]\n  seed: [0, 1]\nexclude:\n{exclude}"
        );
        let suite = Suite::parse(Path::new("t.yaml"), text).map_err(|e| e.to_string())?;
        let runs = suite.expand().map_err(|e| e.to_string())?;
        Ok(runs
            .iter()
            .map(|r| (r.batch_size, format!("{}/{}", crate::fmt::lr(r.lr), r.seed)))
            .collect())
    }

    #[test]
    fn exclude_entries_remove_exactly_the_combinations_they_name() {
        let runs = expand("  - {batch_size: 8, lr: 0.1}\n  - {seed: 1, batch_size: 32}\n").unwrap();
        assert_eq!(runs.len(), 12 - 2 - 2);
        assert!(!runs.iter().any(|(b, l)| *b == 8 && l.starts_with("0.1/")));
        assert!(!runs.iter().any(|(b, l)| *b == 32 && l.ends_with("/1")));
        assert!(runs.contains(&(8, "0.2/1".into())) && runs.contains(&(32, "0.2/0".into())));
    }

    #[test]
    fn an_exclude_entry_that_removes_nothing_new_is_an_error() {
        // A value that is not on its axis.
        let e = expand("  - {batch_size: 64}\n").unwrap_err();
        assert!(e.contains("exclude[0]: matches no combination"), "{e}");
        // Everything it names was removed by an earlier entry, in either order of keys.
        let e = expand("  - {batch_size: 8}\n  - {lr: 0.1, batch_size: 8}\n").unwrap_err();
        assert!(e.contains("exclude[1]: matches no combination"), "{e}");
        // Overlapping but not shadowed: fine.
        assert_eq!(
            expand("  - {lr: 0.1, batch_size: 8}\n  - {batch_size: 8}\n")
                .unwrap()
                .len(),
            8
        );
    }

    /// The include rules of CI matrices, with what the index must get right: entries
    /// naming some axes, none, all; unmatched entries that become combinations and are
    /// matched by later entries; combinations removed by `exclude` first. (The same
    /// runs as the earlier entry-by-combination matching, which was compared on this
    /// suite and the shipped ones.)
    #[test]
    fn include_entries_extend_the_combinations_they_match_or_become_their_own() {
        let text = "version: 1\nname: t\ndefaults:\n  dataset: {name: digits}\n  model: {kind: logreg}\n  lr: 0.1\n  epochs: 1\nmatrix:\n  batch_size: [8, 16, 32]\n  seed: [0, 1, 2]\n  lr: [0.1, 0.2]\nexclude:\n  - {batch_size: 16, seed: 1}\ninclude:\n  - {batch_size: 8, epochs: 2}\n  - {batch_size: 64, seed: 5}\n  - {batch_size: 64, lr: 0.3, epochs: 3}\n  - {seed: 2, lr: 0.2, epochs: 4}\n  - {epochs: 1.5, batch_size: 32, seed: 0, lr: 0.1}\n  - {seed: 5, eval_every: 0.5}\n  - {batch_size: 128}\n  - {batch_size: 128, epochs: 5}\n";
        let suite = Suite::parse(Path::new("t.yaml"), text.into()).unwrap();
        let runs: Vec<String> = suite
            .expand()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}/{}/{}/{}/{}",
                    r.batch_size,
                    crate::fmt::lr(r.lr),
                    r.seed,
                    r.epochs,
                    r.eval_every
                )
            })
            .collect();
        assert_eq!(
            runs,
            [
                "8/0.1/0/2/1",
                "8/0.1/1/2/1",
                "8/0.1/2/2/1",
                "16/0.1/0/1/1",
                "16/0.1/2/1/1",
                "32/0.1/0/1.5/1",
                "32/0.1/1/1/1",
                "32/0.1/2/1/1",
                "8/0.2/0/2/1",
                "8/0.2/1/2/1",
                "8/0.2/2/4/1",
                "16/0.2/0/1/1",
                "16/0.2/2/4/1",
                "32/0.2/0/1/1",
                "32/0.2/1/1/1",
                "32/0.2/2/4/1",
                // {batch_size: 64, seed: 5}, then extended by {seed: 5, eval_every: 0.5}
                "64/0.1/5/1/0.5",
                // {batch_size: 64, lr: 0.3} matched nothing (0.3 is on no combination)
                "64/0.3/0/3/1",
                // {batch_size: 128}, then extended by the next entry
                "128/0.1/0/5/1",
            ]
        );
    }
}
