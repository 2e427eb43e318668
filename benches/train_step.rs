//! The training step and the data path, on the CPU backends (flex; ndarray when built
//! with `--features openblas`) and CUDA when present:
//! MLP 784-512-512-10 and CNN (32, 64 | 128) at batch 32, 256 and 2048 on 28×28
//! synthetic images resident on the device.
//!
//! Run with `make bench-micro` (or `cargo bench --bench train_step`).

use burn::backend::{Autodiff, Flex};
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use batchbench::data::synthetic::{SyntheticParams, generate};
use batchbench::model::{InputShape, Model};
use batchbench::suite::{ModelKind, ModelSpec};
use batchbench::train::{DeviceData, cross_entropy};

fn models() -> Vec<(&'static str, ModelSpec)> {
    vec![
        (
            "mlp",
            ModelSpec {
                hidden: Some(vec![512, 512]),
                ..ModelSpec::of(ModelKind::Mlp)
            }
            .resolved(),
        ),
        (
            "cnn",
            ModelSpec {
                hidden: Some(vec![128]),
                channels: Some(vec![32, 64]),
                ..ModelSpec::of(ModelKind::Cnn)
            }
            .resolved(),
        ),
    ]
}

fn bench_backend<B: AutodiffBackend>(c: &mut Criterion, name: &str, device: B::Device) {
    let data = generate(&SyntheticParams {
        train: 8192,
        test: 256,
        features: 784,
        classes: 10,
        noise: 1.0,
        seed: 0,
        image: Some([1, 28, 28]),
    });
    let dev = DeviceData::<B>::upload(&data, 256, 0, &device);
    let input = InputShape {
        features: 784,
        image: Some([1, 28, 28]),
        classes: 10,
    };
    let n = data.train.len();
    let perm: Tensor<B, 1, Int> = Tensor::from_data(
        TensorData::new((0..n as i64).rev().collect::<Vec<_>>(), [n]),
        &device,
    );

    let mut group = c.benchmark_group(format!("train_step/{name}"));
    group.sample_size(10);
    for (label, spec) in models() {
        for batch in [32usize, 256, 2048] {
            group.throughput(Throughput::Elements(batch as u64));
            let mut model = Model::<B>::new(&spec, input, 0, &device);
            let mut optim = SgdConfig::new().init::<B, Model<B>>();
            let mut cursor = 0;
            group.bench_with_input(BenchmarkId::new(label, batch), &batch, |b, &batch| {
                b.iter(|| {
                    if cursor + batch > n {
                        cursor = 0;
                    }
                    let idx = perm.clone().slice(cursor..cursor + batch);
                    cursor += batch;
                    let loss = cross_entropy(
                        model.forward(dev.train_x.clone().select(0, idx.clone())),
                        dev.train_y.clone().select(0, idx),
                    );
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    model = optim.step(0.01, model.clone(), grads);
                    // Synchronize so the measurement covers the work, not its queueing.
                    B::sync(&device).unwrap();
                })
            });
        }
    }
    group.finish();

    // The data path alone: one pass of index gathers at batch 256.
    let mut group = c.benchmark_group(format!("data_path/{name}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("one pass, batch 256", |b| {
        b.iter(|| {
            for start in (0..n - 256).step_by(256) {
                let idx = perm.clone().slice(start..start + 256);
                let _ = dev.train_x.clone().select(0, idx.clone());
                let _ = dev.train_y.clone().select(0, idx);
            }
            B::sync(&device).unwrap();
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    // As the training worker does: reuse freed buffers instead of fresh zeroed pages.
    batchbench::backend::keep_freed_memory();
    bench_backend::<Autodiff<Flex>>(c, "cpu-flex", Default::default());
    #[cfg(feature = "openblas")]
    bench_backend::<Autodiff<burn::backend::NdArray<f32>>>(c, "cpu-ndarray", Default::default());
    if batchbench::device::probe_cuda().is_ok() {
        use burn::backend::cuda::{Cuda, CudaDevice};
        batchbench::backend::configure_cubecl(&batchbench::backend::default_cache_dir());
        bench_backend::<Autodiff<Cuda<f32>>>(c, "cuda", CudaDevice { index: 0 });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
