//! The training step and the data path, on the CPU backends (flex; ndarray when built
//! with `--features openblas`) and CUDA when present:
//! MLP 784-512-512-10 and CNN (32, 64 | 128) at batch 32, 256 and 2048 on 28×28
//! synthetic images resident on the device.
//!
//! Run with `make bench-micro` (or `cargo bench --bench train_step`).

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::AutodiffBackend;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use common::{Data, Trainer, models};

fn bench_backend<B: AutodiffBackend>(c: &mut Criterion, name: &str, device: B::Device) {
    let data = Data::<B>::new(device);
    let mut group = c.benchmark_group(format!("train_step/{name}"));
    group.sample_size(10);
    for (label, spec) in models() {
        for batch in [32usize, 256, 2048] {
            group.throughput(Throughput::Elements(batch as u64));
            let mut trainer = Trainer::new(&data, &spec, batch);
            group.bench_with_input(BenchmarkId::new(label, batch), &batch, |b, _| {
                b.iter(|| trainer.step())
            });
        }
    }
    group.finish();

    // The data path alone: one pass of index gathers at batch 256.
    let mut group = c.benchmark_group(format!("data_path/{name}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(data.n as u64));
    group.bench_function("one pass, batch 256", |b| {
        b.iter(|| {
            for start in (0..data.n - 256).step_by(256) {
                let idx = data.perm.clone().slice(start..start + 256);
                let _ = data.dev.train_x.clone().select(0, idx.clone());
                let _ = data.dev.train_y.clone().select(0, idx);
            }
            B::sync(&data.device).unwrap();
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
