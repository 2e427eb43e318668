//! Range checks on single values, wherever they are written in a suite.
//!
//! The bounds are generous for real studies and tight enough that an absurd value
//! (batch 10¹², 10⁹ epochs, a NaN learning rate) is refused by `validate` before it
//! can allocate or loop for ever. Checks that need several settings at once (a batch
//! larger than the dataset) live in `expand.rs`.

use super::schema::*;

/// The largest batch size accepted (2²⁴): far above what fits any GPU for these models.
pub const MAX_BATCH: u64 = 1 << 24;
/// The largest epoch budget (and warm-up or eval interval) accepted.
pub const MAX_EPOCHS: f64 = 10_000.0;
/// The largest sample budget accepted.
pub const MAX_SAMPLES: u64 = 100_000_000_000;
/// The largest number of examples a synthetic dataset may hold (examples × features).
pub const MAX_SYNTHETIC_VALUES: u64 = 1 << 30;

fn in_range_u64(value: u64, min: u64, max: u64, what: &str) -> Result<(), String> {
    if value < min || value > max {
        Err(format!(
            "{value} is out of range; {what} must be between {min} and {max}"
        ))
    } else {
        Ok(())
    }
}

fn positive_finite(value: f64, max: f64, what: &str) -> Result<(), String> {
    if !value.is_finite() || value <= 0.0 || value > max {
        Err(format!(
            "{value} is not allowed; {what} must be a number > 0 and ≤ {max}"
        ))
    } else {
        Ok(())
    }
}

fn unused(name: &str, set: bool, applies_to: &str) -> Result<(), String> {
    if set {
        Err(format!("`{name}` applies only to {applies_to}; remove it"))
    } else {
        Ok(())
    }
}

impl CheckValue for u64 {
    fn check(&self, field: &str) -> Result<(), String> {
        match field {
            "batch_size" => in_range_u64(*self, 1, MAX_BATCH, "batch_size"),
            "base_batch" => in_range_u64(*self, 1, MAX_BATCH, "base_batch"),
            "accumulate" => in_range_u64(*self, 1, 4096, "accumulate"),
            "samples" => in_range_u64(*self, 1, MAX_SAMPLES, "samples"),
            "eval_train_samples" => in_range_u64(*self, 1, 10_000_000, "eval_train_samples"),
            _ => Ok(()),
        }
    }
}

impl CheckValue for u32 {
    fn check(&self, _field: &str) -> Result<(), String> {
        Ok(())
    }
}

impl CheckValue for f64 {
    fn check(&self, field: &str) -> Result<(), String> {
        match field {
            "lr" => positive_finite(*self, 100.0, "lr"),
            "epochs" => positive_finite(*self, MAX_EPOCHS, "epochs"),
            "eval_every" => positive_finite(*self, MAX_EPOCHS, "eval_every"),
            "timeout_s" => positive_finite(*self, 1e7, "timeout_s"),
            "warmup_timeout_s" => positive_finite(*self, 1e7, "warmup_timeout_s"),
            "warmup_epochs" => {
                if self.is_finite() && (0.0..=MAX_EPOCHS).contains(self) {
                    Ok(())
                } else {
                    Err(format!(
                        "{self} is not allowed; warmup_epochs must be between 0 and {MAX_EPOCHS}"
                    ))
                }
            }
            "target_accuracy" => {
                if self.is_finite() && *self > 0.0 && *self <= 1.0 {
                    Ok(())
                } else {
                    Err(format!(
                        "{self} is not allowed; target_accuracy is a fraction in (0, 1], e.g. 0.9 for 90%"
                    ))
                }
            }
            _ => Ok(()),
        }
    }
}

impl CheckValue for DatasetSpec {
    fn check(&self, _field: &str) -> Result<(), String> {
        use DatasetName::*;
        let name = self.name;
        let synthetic = name == Synthetic;
        let files = matches!(name, Mnist | FashionMnist | Cifar10);
        let tokens = matches!(name, Text | SyntheticText);
        unused(
            "path",
            self.path.is_some() && !(files || name == Text),
            "mnist, fashion-mnist, cifar10 and text",
        )?;
        if name == Text && self.path.is_none() {
            return Err(
                "text needs `path`: the file to read as tokens (relative to the suite)".into(),
            );
        }
        unused(
            "test_fraction",
            self.test_fraction.is_some() && !matches!(name, Digits | Text),
            "digits and text",
        )?;
        unused(
            "data_seed",
            self.data_seed.is_some() && files,
            "digits, synthetic, text and synthetic-text",
        )?;
        for (field, set) in [
            ("train_samples", self.train_samples.is_some()),
            ("test_samples", self.test_samples.is_some()),
            ("features", self.features.is_some()),
            ("shape", self.shape.is_some()),
            ("classes", self.classes.is_some()),
            ("noise", self.noise.is_some()),
        ] {
            unused(field, set && !synthetic, "the synthetic dataset")?;
        }
        unused(
            "context",
            self.context.is_some() && !tokens,
            "text and synthetic-text",
        )?;
        for (field, set) in [
            ("vocab", self.vocab.is_some()),
            ("order", self.order.is_some()),
            ("sharpness", self.sharpness.is_some()),
            ("train_tokens", self.train_tokens.is_some()),
            ("test_tokens", self.test_tokens.is_some()),
        ] {
            unused(field, set && name != SyntheticText, "synthetic-text")?;
        }
        if tokens {
            in_range_u64(self.context(), 2, 8192, "context")?;
        }
        if name == SyntheticText {
            let (vocab, order) = (self.vocab(), self.order());
            in_range_u64(vocab, 2, 256, "vocab")?;
            in_range_u64(order, 1, 4, "order")?;
            let states = vocab.saturating_pow(order as u32);
            if states.saturating_mul(vocab) > crate::data::text::MAX_MARKOV_TRANSITIONS {
                return Err(format!(
                    "vocab^(order + 1) = {} transitions is too many for the exact entropy computation; at most {} (lower vocab or order)",
                    states.saturating_mul(vocab),
                    crate::data::text::MAX_MARKOV_TRANSITIONS
                ));
            }
            let sharpness = self.sharpness();
            if !(sharpness.is_finite() && (0.0..=20.0).contains(&sharpness)) {
                return Err(format!("sharpness {sharpness} must be between 0 and 20"));
            }
            in_range_u64(self.train_tokens(), 16, 100_000_000, "train_tokens")?;
            in_range_u64(self.test_tokens(), 16, 100_000_000, "test_tokens")?;
            let context = self.context();
            for (field, n) in [
                ("train_tokens", self.train_tokens()),
                ("test_tokens", self.test_tokens()),
            ] {
                if n < context + 1 {
                    return Err(format!(
                        "{field} ({n}) is shorter than one sequence of context + 1 = {} tokens",
                        context + 1
                    ));
                }
            }
        }
        if let Some(n) = self.train_subset {
            in_range_u64(n, 1, 100_000_000, "train_subset")?;
        }
        if let Some(n) = self.test_subset {
            in_range_u64(n, 1, 100_000_000, "test_subset")?;
        }
        if let Some(f) = self.test_fraction
            && !(f.is_finite() && f > 0.0 && f < 1.0)
        {
            return Err(format!(
                "test_fraction {f} must be strictly between 0 and 1"
            ));
        }
        if let Some(shape) = &self.shape {
            if shape.len() != 3 || shape.iter().any(|&d| d == 0 || d > 4096) {
                return Err("shape must be [channels, height, width], each between 1 and 4096, e.g. [1, 28, 28]".into());
            }
            let product: u64 = shape.iter().product();
            if let Some(f) = self.features.filter(|&f| f != product) {
                return Err(format!(
                    "features ({f}) must equal the product of shape ({product}); leave features out"
                ));
            }
        }
        if synthetic {
            let resolved = self.resolved();
            let (train, test) = (
                resolved.train_samples.unwrap(),
                resolved.test_samples.unwrap(),
            );
            let (features, classes) = (resolved.features.unwrap(), resolved.classes.unwrap());
            in_range_u64(train, 1, 10_000_000, "train_samples")?;
            in_range_u64(test, 1, 10_000_000, "test_samples")?;
            in_range_u64(features, 1, 100_000, "features")?;
            in_range_u64(classes, 2, 1_000, "classes")?;
            let values = (train + test).saturating_mul(features);
            if values > MAX_SYNTHETIC_VALUES {
                return Err(format!(
                    "(train_samples + test_samples) × features = {values} values is too large; the limit is {MAX_SYNTHETIC_VALUES}"
                ));
            }
            let noise = resolved.noise.unwrap();
            if !(noise.is_finite() && (0.0..=1000.0).contains(&noise)) {
                return Err(format!("noise {noise} must be between 0 and 1000"));
            }
        }
        Ok(())
    }
}

impl CheckValue for ModelSpec {
    fn check(&self, _field: &str) -> Result<(), String> {
        let kind = self.kind;
        if !matches!(kind, ModelKind::Mlp | ModelKind::Cnn) {
            unused("hidden", self.hidden.is_some(), "mlp and cnn")?;
            unused("activation", self.activation.is_some(), "mlp and cnn")?;
        }
        if kind != ModelKind::Cnn {
            unused("channels", self.channels.is_some(), "cnn")?;
            unused("kernel", self.kernel.is_some(), "cnn")?;
        }
        if kind != ModelKind::Resnet {
            for (name, set) in [
                ("depth", self.depth.is_some()),
                ("widths", self.widths.is_some()),
                ("norm", self.norm.is_some()),
                ("ghost_batch", self.ghost_batch.is_some()),
            ] {
                unused(name, set, "resnet")?;
            }
        }
        if kind != ModelKind::Transformer {
            for (name, set) in [
                ("layers", self.layers.is_some()),
                ("d_model", self.d_model.is_some()),
                ("heads", self.heads.is_some()),
                ("dropout", self.dropout.is_some()),
            ] {
                unused(name, set, "transformer")?;
            }
        }
        if kind == ModelKind::Resnet {
            let resolved = self.resolved();
            let widths = resolved.widths.as_deref().unwrap_or_default();
            if widths.is_empty() || widths.len() > 4 {
                return Err("widths must list 1 to 4 stages, e.g. [16, 32, 64]".into());
            }
            for &w in widths {
                in_range_u64(w, 1, 1024, "each width")?;
            }
            let depth = resolved.depth.unwrap_or(20);
            if super::layout::resnet_blocks_per_stage(depth, widths.len()).is_none() || depth > 200
            {
                let per = 2 * widths.len() as u64;
                return Err(format!(
                    "depth {depth} does not fit {} stages of basic blocks: depth = {per}·n + 2 for n blocks per stage, e.g. {} or {} (at most 200)",
                    widths.len(),
                    per + 2,
                    3 * per + 2
                ));
            }
            match (resolved.norm, self.ghost_batch) {
                (Some(Norm::Ghost), None) => {
                    return Err(
                        "norm: ghost needs `ghost_batch`, the examples per ghost batch (e.g. 32)"
                            .into(),
                    );
                }
                (Some(Norm::Ghost), Some(g)) => in_range_u64(g, 2, 1 << 20, "ghost_batch")?,
                (_, Some(_)) => unused("ghost_batch", true, "resnet with norm: ghost")?,
                _ => {}
            }
        }
        if kind == ModelKind::Transformer {
            let r = self.resolved();
            let (layers, d, heads) = (r.layers.unwrap(), r.d_model.unwrap(), r.heads.unwrap());
            in_range_u64(layers, 1, 64, "layers")?;
            in_range_u64(d, 2, 8192, "d_model")?;
            in_range_u64(heads, 1, 128, "heads")?;
            if d % heads != 0 {
                return Err(format!(
                    "heads ({heads}) must divide d_model ({d}); each head gets d_model / heads dimensions"
                ));
            }
            let p = r.dropout.unwrap();
            if !(p.is_finite() && (0.0..=0.9).contains(&p)) {
                return Err(format!("dropout {p} must be between 0 and 0.9"));
            }
        }
        if let Some(hidden) = &self.hidden {
            if hidden.len() > 16 {
                return Err(format!(
                    "{} hidden layers is too many; at most 16",
                    hidden.len()
                ));
            }
            for &w in hidden {
                in_range_u64(w, 1, 65_536, "each hidden width")?;
            }
        }
        if let Some(channels) = &self.channels {
            if channels.is_empty() || channels.len() > 4 {
                return Err("channels must list 1 to 4 conv blocks, e.g. [16, 32]".into());
            }
            for &c in channels {
                in_range_u64(c, 1, 1024, "each channel count")?;
            }
        }
        if let Some(k) = self.kernel
            && (k % 2 == 0 || !(1..=11).contains(&k))
        {
            return Err(format!("kernel {k} must be odd, between 1 and 11"));
        }
        Ok(())
    }
}

impl CheckValue for OptimizerSpec {
    fn check(&self, _field: &str) -> Result<(), String> {
        let sgd = self.kind == OptimizerKind::Sgd;
        unused("momentum", self.momentum.is_some() && !sgd, "sgd")?;
        unused("nesterov", self.nesterov.is_some() && !sgd, "sgd")?;
        for (name, set) in [
            ("beta1", self.beta1.is_some()),
            ("beta2", self.beta2.is_some()),
            ("epsilon", self.epsilon.is_some()),
        ] {
            unused(name, set && sgd, "adam and adamw")?;
        }
        if let Some(m) = self.momentum
            && !(m.is_finite() && (0.0..1.0).contains(&m))
        {
            return Err(format!("momentum {m} must be in [0, 1)"));
        }
        if self.nesterov == Some(true) && self.momentum.unwrap_or(0.0) == 0.0 {
            return Err("nesterov needs momentum > 0, e.g. momentum: 0.9".into());
        }
        for (name, value) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if let Some(b) = value
                && !(b.is_finite() && (0.0..1.0).contains(&b))
            {
                return Err(format!("{name} {b} must be in [0, 1)"));
            }
        }
        if let Some(e) = self.epsilon {
            positive_finite(e, 1.0, "epsilon")?;
        }
        if let Some(w) = self.weight_decay
            && !(w.is_finite() && (0.0..=1.0).contains(&w))
        {
            return Err(format!("weight_decay {w} must be between 0 and 1"));
        }
        Ok(())
    }
}

impl CheckValue for LrSchedule {
    fn check(&self, _field: &str) -> Result<(), String> {
        let step = self.kind == ScheduleKind::Step;
        unused(
            "milestones",
            self.milestones.is_some() && !step,
            "the step schedule",
        )?;
        unused("gamma", self.gamma.is_some() && !step, "the step schedule")?;
        unused(
            "final_fraction",
            self.final_fraction.is_some() && self.kind != ScheduleKind::Cosine,
            "the cosine schedule",
        )?;
        if step {
            let milestones = self.milestones.as_deref().unwrap_or_default();
            if milestones.is_empty() {
                return Err("the step schedule needs milestones, e.g. milestones: [30, 60]".into());
            }
            let increasing = milestones.windows(2).all(|w| w[0] < w[1]);
            if !increasing || milestones.iter().any(|m| !m.is_finite() || *m <= 0.0) {
                return Err("milestones must be positive epochs in increasing order".into());
            }
        }
        if let Some(g) = self.gamma
            && !(g.is_finite() && g > 0.0 && g <= 1.0)
        {
            return Err(format!("gamma {g} must be in (0, 1]"));
        }
        if let Some(f) = self.final_fraction
            && !(f.is_finite() && (0.0..=1.0).contains(&f))
        {
            return Err(format!("final_fraction {f} must be in [0, 1]"));
        }
        Ok(())
    }
}

impl CheckValue for Vec<BatchStep> {
    fn check(&self, _field: &str) -> Result<(), String> {
        if self.is_empty() {
            return Err(
                "batch_schedule needs at least one step, e.g. [{epoch: 5, batch_size: 512}]".into(),
            );
        }
        let increasing = self.windows(2).all(|w| w[0].epoch < w[1].epoch);
        if !increasing || self.iter().any(|s| !s.epoch.is_finite() || s.epoch <= 0.0) {
            return Err("batch_schedule epochs must be positive and increasing".into());
        }
        for s in self {
            in_range_u64(s.batch_size, 1, MAX_BATCH, "each batch_schedule batch_size")?;
        }
        Ok(())
    }
}

impl CheckValue for ProbeSpec {
    fn check(&self, _field: &str) -> Result<(), String> {
        if let Some(s) = &self.sharpness {
            for &e in s.epsilons.iter().flatten() {
                if !(e.is_finite() && (0.0..=1.0).contains(&e)) {
                    return Err(format!(
                        "sharpness epsilon {e} must be between 0 and 1, e.g. 1e-3"
                    ));
                }
            }
            if let Some(n) = s.samples {
                in_range_u64(n, 1, 100_000, "sharpness samples")?;
            }
            if let Some(n) = s.steps {
                in_range_u64(n, 1, 1000, "sharpness steps")?;
            }
        }
        if let Some(n) = &self.noise_scale {
            let (small, big) = n.batches();
            in_range_u64(small, 1, MAX_BATCH, "noise_scale small")?;
            in_range_u64(big, 2, MAX_BATCH, "noise_scale big")?;
            if small >= big {
                return Err(format!(
                    "noise_scale needs small < big (got {small} and {big})"
                ));
            }
            if let Some(r) = n.repeats {
                in_range_u64(r, 1, 10_000, "noise_scale repeats")?;
            }
        }
        if let Some(n) = self.gradient_diversity.as_ref().and_then(|d| d.examples) {
            in_range_u64(n, 2, 4096, "gradient_diversity examples")?;
        }
        if let Some(n) = self.interpolation.as_ref().and_then(|i| i.points) {
            in_range_u64(n, 3, 1001, "interpolation points")?;
        }
        Ok(())
    }
}

macro_rules! always_valid {
    ($($t:ty),*) => { $( impl CheckValue for $t { fn check(&self, _: &str) -> Result<(), String> { Ok(()) } } )* };
}
always_valid!(LrScaling, Precision, Engine, DeviceRequest, bool);

impl CheckValue for Target {
    fn check(&self, _field: &str) -> Result<(), String> {
        let v = self.value;
        let ok = v.is_finite()
            && match self.metric {
                TargetMetric::TestAccuracy => v > 0.0 && v <= 1.0,
                TargetMetric::TestPerplexity => v >= 1.0,
                TargetMetric::TestLoss | TargetMetric::TrainLoss => v > 0.0,
            };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{v} is not allowed for {}; {}",
                self.metric.as_str(),
                match self.metric {
                    TargetMetric::TestAccuracy => "an accuracy is a fraction in (0, 1], e.g. 0.9",
                    TargetMetric::TestPerplexity => "a perplexity is at least 1",
                    _ => "a loss target is a number of nats > 0",
                }
            ))
        }
    }
}

impl CheckValue for Augment {
    fn check(&self, _field: &str) -> Result<(), String> {
        in_range_u64(self.crop, 0, 16, "crop")
    }
}

impl DatasetSpec {
    /// A copy with every default that applies to this dataset written out, so the
    /// record says exactly what was used.
    pub fn resolved(&self) -> DatasetSpec {
        let mut d = self.clone();
        match d.name {
            DatasetName::Digits => {
                d.test_fraction = Some(d.test_fraction());
                d.data_seed = Some(d.data_seed());
            }
            DatasetName::Synthetic => {
                d.data_seed = Some(d.data_seed());
                d.train_samples = Some(d.train_samples());
                d.test_samples = Some(d.test_samples());
                d.features = Some(d.features());
                d.classes = Some(d.classes());
                d.noise = Some(d.noise());
            }
            DatasetName::Text => {
                d.test_fraction = Some(d.test_fraction());
                d.data_seed = Some(d.data_seed());
                d.context = Some(d.context());
            }
            DatasetName::SyntheticText => {
                d.data_seed = Some(d.data_seed());
                d.context = Some(d.context());
                d.vocab = Some(d.vocab());
                d.order = Some(d.order());
                d.sharpness = Some(d.sharpness());
                d.train_tokens = Some(d.train_tokens());
                d.test_tokens = Some(d.test_tokens());
            }
            DatasetName::Mnist | DatasetName::FashionMnist | DatasetName::Cifar10 => {}
        }
        d
    }
}

impl ModelSpec {
    /// Trainable values of the model this (resolved) spec builds for inputs of
    /// `features` values (laid out as `image` for a cnn) and `classes` outputs: conv +
    /// 2×2 pool blocks (each halving the image), then dense layers with biases.
    pub fn parameters(&self, features: u64, image: Option<[u64; 3]>, classes: u64) -> u64 {
        let input = super::layout::Input {
            features: features as usize,
            image: image.map(|[c, h, w]| [c as usize, h as usize, w as usize]),
            classes: classes as usize,
        };
        self.layout(input)
            .iter()
            .map(|t| {
                t.shape
                    .iter()
                    .fold(1u64, |a, &d| a.saturating_mul(d as u64))
            })
            .fold(0u64, u64::saturating_add)
    }

    /// A model of `kind` with every option left to its default.
    pub fn of(kind: ModelKind) -> ModelSpec {
        ModelSpec {
            kind,
            hidden: None,
            activation: None,
            channels: None,
            kernel: None,
            depth: None,
            widths: None,
            norm: None,
            ghost_batch: None,
            layers: None,
            d_model: None,
            heads: None,
            dropout: None,
        }
    }

    /// A copy with the defaults of its kind written out.
    pub fn resolved(&self) -> ModelSpec {
        let mut m = self.clone();
        if matches!(m.kind, ModelKind::Mlp | ModelKind::Cnn) {
            m.hidden.get_or_insert_with(|| vec![128]);
            m.activation.get_or_insert(Activation::Relu);
        }
        if m.kind == ModelKind::Resnet {
            m.depth.get_or_insert(20);
            m.widths.get_or_insert_with(|| vec![16, 32, 64]);
            m.norm.get_or_insert(Norm::Batch);
        }
        if m.kind == ModelKind::Transformer {
            m.layers.get_or_insert(2);
            m.d_model.get_or_insert(64);
            m.heads.get_or_insert(4);
            m.dropout.get_or_insert(0.0);
        }
        if m.kind == ModelKind::Cnn {
            m.channels.get_or_insert_with(|| vec![16, 32]);
            m.kernel.get_or_insert(3);
        }
        m
    }
}

impl OptimizerSpec {
    /// Plain SGD.
    pub fn sgd() -> Self {
        OptimizerSpec {
            kind: OptimizerKind::Sgd,
            momentum: None,
            nesterov: None,
            weight_decay: None,
            beta1: None,
            beta2: None,
            epsilon: None,
        }
    }

    /// A copy with the defaults of its kind written out.
    pub fn resolved(&self) -> OptimizerSpec {
        let mut o = self.clone();
        match o.kind {
            OptimizerKind::Sgd => {
                o.momentum.get_or_insert(0.0);
                o.nesterov.get_or_insert(false);
                o.weight_decay.get_or_insert(0.0);
            }
            OptimizerKind::Adam | OptimizerKind::Adamw => {
                o.beta1.get_or_insert(0.9);
                o.beta2.get_or_insert(0.999);
                o.epsilon.get_or_insert(1e-8);
                let decay = if o.kind == OptimizerKind::Adamw {
                    1e-4
                } else {
                    0.0
                };
                o.weight_decay.get_or_insert(decay);
            }
        }
        o
    }
}
