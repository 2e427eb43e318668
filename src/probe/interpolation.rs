//! 1-D linear interpolation between two solutions (Goodfellow et al. 2015; used by
//! Keskar et al. 2017 to contrast small- and large-batch minima): the loss and
//! accuracy of θ(α) = (1 − α)·θ_small + α·θ_big for α ∈ [−0.5, 1.5], on the fixed
//! training subset and the test set. α = 0 and α = 1 are the two runs' final weights,
//! so the curve's ends reproduce their recorded final losses.
//!
//! Pairs: for each configuration family and seed, the smallest and the largest batch
//! size whose runs kept their final weights (`probes: {interpolation: {}}`).

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

use crate::backend::{BackendTask, CpuBackend, dispatch};
use crate::data::{self, Dataset};
use crate::device::DeviceKind;
use crate::model::eval::{DeviceData, evaluate};
use crate::model::params;
use crate::model::{InputShape, Model};
use crate::results::artifacts::{
    INTERPOLATION_FILE, InterpolationCurve, load_weights, weights_path,
};
use crate::results::record::{RunRecord, RunStatus};
use crate::results::store;

/// The pairs to interpolate: (smaller batch, larger batch) per family and seed.
pub fn pairs(records: &[RunRecord], dir: &Path) -> Vec<(RunRecord, RunRecord)> {
    let mut groups: BTreeMap<(String, u64), Vec<&RunRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| {
        r.status == RunStatus::Ok
            && r.spec
                .probes
                .as_ref()
                .is_some_and(|p| p.interpolation.is_some())
            && weights_path(dir, &r.key).exists()
    }) {
        groups
            .entry((r.spec.family_key(), r.spec.seed))
            .or_default()
            .push(r);
    }
    groups
        .into_values()
        .filter_map(|mut g| {
            g.sort_by_key(|r| r.spec.batch_size);
            let (a, b) = (g.first()?, g.last()?);
            (a.spec.batch_size < b.spec.batch_size).then(|| ((*a).clone(), (*b).clone()))
        })
        .collect()
}

struct Task<'a> {
    a: &'a RunRecord,
    b: &'a RunRecord,
    wa: Vec<f32>,
    wb: Vec<f32>,
    data: &'a Dataset,
    alphas: Vec<f64>,
}

impl BackendTask for Task<'_> {
    type Output = anyhow::Result<InterpolationCurve>;

    fn run<B: AutodiffBackend>(self, device: B::Device, _backend: &'static str) -> Self::Output {
        let spec = &self.a.spec;
        let dev = DeviceData::<B>::upload(
            self.data,
            spec.eval_train_samples as usize,
            spec.seed,
            &device,
        );
        let input = InputShape::of(self.data);
        let template = Model::<B>::new(&spec.model, input, spec.seed, &device).valid();
        anyhow::ensure!(
            self.wa.len() == self.wb.len(),
            "the two runs' weights differ in size"
        );
        let mut curve = InterpolationCurve {
            a_key: self.a.key.clone(),
            b_key: self.b.key.clone(),
            a_batch: self.a.spec.batch_size,
            b_batch: self.b.spec.batch_size,
            seed: spec.seed,
            config: format!("{} {}", spec.model_label(), spec.dataset.name),
            alphas: self.alphas.clone(),
            train_loss: vec![],
            train_acc: vec![],
            test_loss: vec![],
            test_acc: vec![],
        };
        for &alpha in &self.alphas {
            let a = alpha as f32;
            let w: Vec<f32> = self
                .wa
                .iter()
                .zip(&self.wb)
                .map(|(x, y)| (1.0 - a) * x + a * y)
                .collect();
            let model = params::load(
                template.clone(),
                params::to_device::<B::InnerBackend>(&w, &device),
                false,
            );
            let (tl, ta) = evaluate(
                &model,
                &dev.train_eval_x.clone().inner(),
                &dev.train_eval_y.clone().inner(),
            )?;
            let (vl, va) = evaluate(
                &model,
                &dev.test_x.clone().inner(),
                &dev.test_y.clone().inner(),
            )?;
            curve.train_loss.push(tl);
            curve.train_acc.push(ta);
            curve.test_loss.push(vl);
            curve.test_acc.push(va);
        }
        Ok(curve)
    }
}

/// Computes every pair's curve for the results in `dir` and writes
/// `interpolation.json`; returns the curves.
pub fn interpolate_dir(
    dir: &Path,
    suite_dir: Option<&Path>,
) -> anyhow::Result<Vec<InterpolationCurve>> {
    let read = store::read_records(&dir.join(store::RUNS_FILE))?;
    let records = store::latest_per_key(read.records);
    let mut curves = Vec::new();
    let pairs = pairs(&records, dir);
    if pairs
        .iter()
        .any(|(a, _)| DeviceKind::try_from(a.spec.device).is_ok_and(DeviceKind::is_cubecl))
    {
        crate::backend::configure_cubecl(&crate::backend::default_cache_dir());
    }
    for (a, b) in pairs {
        let points = a
            .spec
            .probes
            .as_ref()
            .and_then(|p| p.interpolation.as_ref())
            .and_then(|i| i.points)
            .unwrap_or(21);
        let alphas: Vec<f64> = (0..points)
            .map(|i| -0.5 + 2.0 * i as f64 / (points - 1) as f64)
            .collect();
        let data = data::load(&a.spec.dataset, suite_dir)?;
        let task = Task {
            wa: load_weights(&weights_path(dir, &a.key))?,
            wb: load_weights(&weights_path(dir, &b.key))?,
            a: &a,
            b: &b,
            data: &data,
            alphas,
        };
        let kind = DeviceKind::try_from(a.spec.device).map_err(|e| anyhow::anyhow!(e))?;
        // Evaluate on the backend that trained the runs.
        let cpu = CpuBackend::from_recorded(&a.env.backend).unwrap_or_default();
        curves.push(dispatch(kind, a.spec.precision, cpu, task).map_err(|e| anyhow::anyhow!(e))??);
    }
    store::write_atomic(
        &dir.join(INTERPOLATION_FILE),
        &serde_json::to_vec_pretty(&curves)?,
    )?;
    Ok(curves)
}
