//! The CPU backend's 2-D convolution, patched (vendor/burn-flex: im2col + GEMM per
//! image) beside flex's upstream paths, one pass at a time, at the CNN's two layer
//! shapes (1→32 channels on 28×28, 32→64 on 14×14, 3×3, padding 1):
//! forward (upstream: its 3-D path), input gradient (upstream: a transposed
//! convolution) and weight gradient (upstream: Burn's default, a convolution of the
//! swapped input by the swapped output gradient).
//!
//! Run with `cargo bench --bench conv2d`.

use burn::backend::Flex;
use burn::backend::flex::ops::conv::conv2d_f32;
use burn::tensor::ops::{
    ConvOptions, ConvTransposeOptions, FloatTensor, FloatTensorOps, ModuleOps,
};
use burn::tensor::{Distribution, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn random(shape: [usize; 4]) -> FloatTensor<Flex> {
    Tensor::<Flex, 4>::random(shape, Distribution::Uniform(-1.0, 1.0), &Default::default())
        .into_primitive()
        .tensor()
}

/// Burn's default weight gradient for groups = 1 (burn-backend's
/// `conv2d_weight_grad_no_groups`), on flex's upstream forward.
fn upstream_weight_grad(
    x: FloatTensor<Flex>,
    dy: FloatTensor<Flex>,
    options: &ConvOptions<2>,
) -> FloatTensor<Flex> {
    let swapped = conv2d_f32(
        Flex::float_swap_dims(x, 0, 1),
        Flex::float_swap_dims(dy, 0, 1),
        None,
        &ConvOptions::new(options.dilation, options.padding, options.stride, 1),
    );
    Flex::float_swap_dims(swapped, 0, 1)
}

fn bench(c: &mut Criterion) {
    batchbench::backend::keep_freed_memory();
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let transposed = ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1);
    for (layer, c_in, c_out, side) in [("conv1", 1, 32, 28), ("conv2", 32, 64, 14)] {
        let mut group = c.benchmark_group(format!("conv2d/{layer}"));
        group.sample_size(10);
        for batch in [32usize, 256] {
            let x = random([batch, c_in, side, side]);
            let w = random([c_out, c_in, 3, 3]);
            let dy = random([batch, c_out, side, side]);
            group.throughput(Throughput::Elements(batch as u64));
            let id = |pass: &str| BenchmarkId::new(pass, batch);
            group.bench_function(id("forward/patched"), |b| {
                b.iter(|| Flex::conv2d(x.clone(), w.clone(), None, options.clone()))
            });
            group.bench_function(id("forward/upstream"), |b| {
                b.iter(|| conv2d_f32(x.clone(), w.clone(), None, &options))
            });
            group.bench_function(id("input-grad/patched"), |b| {
                b.iter(|| {
                    Flex::conv2d_x_backward(x.clone(), w.clone(), dy.clone(), options.clone())
                })
            });
            group.bench_function(id("input-grad/upstream"), |b| {
                b.iter(|| Flex::conv_transpose2d(dy.clone(), w.clone(), None, transposed.clone()))
            });
            group.bench_function(id("weight-grad/patched"), |b| {
                b.iter(|| {
                    Flex::conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), options.clone())
                })
            });
            group.bench_function(id("weight-grad/upstream"), |b| {
                b.iter(|| upstream_weight_grad(x.clone(), dy.clone(), &options))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
