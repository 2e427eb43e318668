//! The CPU backend's 2-D convolution (vendor/burn-flex, im2col + GEMM per image) against
//! flex's own upstream paths and a direct f64 reference, over a grid of shapes: batch,
//! channels, kernel 1/3/5, stride 1/2, padding 0/1/2, dilation 1/2, groups 1/2 —
//! forward, input gradient, weight gradient and bias gradient, to 1e-5 relative. Max
//! pooling (used by the CNN) and its gradient are checked against the reference too.

use burn::backend::flex::ops::conv::conv2d_f32;
use burn::backend::{Autodiff, Flex};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::conv::calculate_padding_out;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, FloatTensor, ModuleOps};
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type FlexTensor = FloatTensor<Flex>;

#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Case {
    /// A single-group convolution with stride 1, no padding and no dilation; the other
    /// cases change fields with `Case { stride, ..Case::new(...) }`.
    fn new(
        batch: usize,
        [c_in, c_out]: [usize; 2],
        [h, w]: [usize; 2],
        kernel: [usize; 2],
    ) -> Self {
        Case {
            batch,
            c_in,
            c_out,
            h,
            w,
            kernel,
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
    fn out(&self, d: usize) -> Option<usize> {
        let input = [self.h, self.w][d] + 2 * self.padding[d];
        let reach = self.dilation[d] * (self.kernel[d] - 1) + 1;
        (input >= reach).then(|| (input - reach) / self.stride[d] + 1)
    }
    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new(self.stride, self.padding, self.dilation, self.groups)
    }
    fn x_shape(&self) -> [usize; 4] {
        [self.batch, self.c_in, self.h, self.w]
    }
    fn w_shape(&self) -> [usize; 4] {
        [
            self.c_out,
            self.c_in / self.groups,
            self.kernel[0],
            self.kernel[1],
        ]
    }
    fn y_shape(&self) -> [usize; 4] {
        [
            self.batch,
            self.c_out,
            self.out(0).unwrap(),
            self.out(1).unwrap(),
        ]
    }
}

/// The grid: every combination that has an output, groups 2 where channels allow.
fn grid() -> Vec<Case> {
    let mut cases = Vec::new();
    for (batch, c_in, c_out) in [(1, 1, 3), (3, 4, 6), (2, 2, 2)] {
        for k in [1, 3, 5] {
            for stride in [1, 2] {
                for padding in [0, 1, 2] {
                    for dilation in [1, 2] {
                        for groups in [1, 2] {
                            if c_in % groups != 0 || c_out % groups != 0 {
                                continue;
                            }
                            // Each axis gets every value over the grid, paired
                            // differently, so the two axes cannot be swapped.
                            let kernel = [k, if k == 1 { 1 } else { k - 1 }];
                            let case = Case {
                                stride: [stride, 3 - stride],
                                padding: [padding, 2 - padding],
                                dilation: [dilation, 3 - dilation],
                                groups,
                                ..Case::new(batch, [c_in, c_out], [9, 7], kernel)
                            };
                            if case.out(0).is_some() && case.out(1).is_some() {
                                cases.push(case);
                            }
                        }
                    }
                }
            }
        }
    }
    cases
}

fn random(shape: [usize; 4], rng: &mut StdRng) -> Vec<f32> {
    (0..shape.iter().product::<usize>())
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect()
}

fn prim(data: &[f32], shape: [usize; 4]) -> FlexTensor {
    Tensor::<Flex, 4>::from_data(TensorData::new(data.to_vec(), shape), &Default::default())
        .into_primitive()
        .tensor()
}

fn values(t: FlexTensor) -> Vec<f32> {
    Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(t))
        .into_data()
        .to_vec()
        .unwrap()
}

fn values1(t: FlexTensor) -> Vec<f32> {
    Tensor::<Flex, 1>::from_primitive(TensorPrimitive::Float(t))
        .into_data()
        .to_vec()
        .unwrap()
}

/// Largest absolute difference over the largest reference magnitude.
fn assert_close(what: &str, case: &Case, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what} {case:?}: length");
    let scale = want.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (*g as f64 - w).abs())
        .fold(0.0, f64::max);
    assert!(
        worst / scale <= 1e-5,
        "{what} {case:?}: relative difference {:.3e}",
        worst / scale
    );
}

/// Direct convolution in f64: (y, dx, dw, db) for output gradient `dy`.
fn reference(
    c: &Case,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dy: &[f32],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let [n_, ci_, h_, w_] = c.x_shape();
    let [co_, cg, kh, kw] = c.w_shape();
    let [_, _, oh_, ow_] = c.y_shape();
    let og = co_ / c.groups;
    let xi = |n: usize, ch: usize, i: usize, j: usize| ((n * ci_ + ch) * h_ + i) * w_ + j;
    let wi = |o: usize, ch: usize, i: usize, j: usize| ((o * cg + ch) * kh + i) * kw + j;
    let yi = |n: usize, o: usize, i: usize, j: usize| ((n * co_ + o) * oh_ + i) * ow_ + j;
    let mut y = vec![0.0; n_ * co_ * oh_ * ow_];
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; co_];
    for n in 0..n_ {
        for o in 0..co_ {
            let group = o / og;
            for oh in 0..oh_ {
                for ow in 0..ow_ {
                    let g = dy[yi(n, o, oh, ow)] as f64;
                    let mut sum = b[o] as f64;
                    db[o] += g;
                    for ch in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let ih = (oh * c.stride[0] + i * c.dilation[0]) as isize
                                    - c.padding[0] as isize;
                                let iw = (ow * c.stride[1] + j * c.dilation[1]) as isize
                                    - c.padding[1] as isize;
                                if ih < 0 || iw < 0 || ih as usize >= h_ || iw as usize >= w_ {
                                    continue;
                                }
                                let at = xi(n, group * cg + ch, ih as usize, iw as usize);
                                sum += x[at] as f64 * w[wi(o, ch, i, j)] as f64;
                                dx[at] += g * w[wi(o, ch, i, j)] as f64;
                                dw[wi(o, ch, i, j)] += g * x[at] as f64;
                            }
                        }
                    }
                    y[yi(n, o, oh, ow)] = sum;
                }
            }
        }
    }
    (y, dx, dw, db)
}

#[test]
fn conv2d_and_its_gradients_equal_flex_upstream_and_a_direct_reference_over_a_grid() {
    let cases = grid();
    assert!(cases.len() > 150, "{} cases", cases.len());
    let mut rng = StdRng::seed_from_u64(15);
    for case in &cases {
        let (x, w) = (
            random(case.x_shape(), &mut rng),
            random(case.w_shape(), &mut rng),
        );
        let b: Vec<f32> = (0..case.c_out)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let dy = random(case.y_shape(), &mut rng);
        let (y_ref, dx_ref, dw_ref, db_ref) = reference(case, &x, &w, &b, &dy);
        let bias = || {
            Tensor::<Flex, 1>::from_data(
                TensorData::new(b.clone(), [case.c_out]),
                &Default::default(),
            )
            .into_primitive()
            .tensor()
        };
        let (xp, wp, dyp) = (
            || prim(&x, case.x_shape()),
            || prim(&w, case.w_shape()),
            || prim(&dy, case.y_shape()),
        );

        // The patched forward, and flex's upstream 3-D path beside it.
        let y = values(Flex::conv2d(xp(), wp(), Some(bias()), case.options()));
        assert_close("forward", case, &y, &y_ref);
        let upstream = values(conv2d_f32(xp(), wp(), Some(bias()), &case.options()));
        let upstream: Vec<f64> = upstream.iter().map(|&v| v as f64).collect();
        assert_close("forward vs upstream", case, &y, &upstream);

        // Input gradient; upstream (Burn's default) is a transposed convolution.
        let dx = values(Flex::conv2d_x_backward(xp(), wp(), dyp(), case.options()));
        assert_close("input gradient", case, &dx, &dx_ref);
        let [_, _, oh, ow] = case.y_shape();
        let padding_out = [0, 1].map(|d| {
            calculate_padding_out(
                case.kernel[d],
                case.stride[d],
                case.padding[d],
                case.dilation[d],
                [case.h, case.w][d],
                [oh, ow][d],
            )
        });
        let transposed = values(Flex::conv_transpose2d(
            dyp(),
            wp(),
            None,
            ConvTransposeOptions::new(
                case.stride,
                case.padding,
                padding_out,
                case.dilation,
                case.groups,
            ),
        ));
        let transposed: Vec<f64> = transposed.iter().map(|&v| v as f64).collect();
        assert_close("input gradient vs upstream", case, &dx, &transposed);

        let dw = values(Flex::conv2d_weight_backward(
            xp(),
            wp(),
            dyp(),
            case.options(),
        ));
        assert_close("weight gradient", case, &dw, &dw_ref);
        let db = values1(Flex::conv2d_bias_backward(xp(), bias(), dyp()));
        assert_close("bias gradient", case, &db, &db_ref);
    }
}

/// The weight gradient sums over images on several threads; the same inputs must give
/// the same bits every time (batchbench's CPU runs are bitwise reproducible).
#[test]
fn the_weight_gradient_is_bitwise_identical_from_call_to_call() {
    let case = Case {
        padding: [1, 1],
        ..Case::new(96, [8, 16], [14, 14], [3, 3])
    };
    let mut rng = StdRng::seed_from_u64(18);
    let (x, w) = (
        random(case.x_shape(), &mut rng),
        random(case.w_shape(), &mut rng),
    );
    let dy = random(case.y_shape(), &mut rng);
    let grad = || {
        values(Flex::conv2d_weight_backward(
            prim(&x, case.x_shape()),
            prim(&w, case.w_shape()),
            prim(&dy, case.y_shape()),
            case.options(),
        ))
        .iter()
        .map(|v| v.to_bits())
        .collect::<Vec<u32>>()
    };
    let first = grad();
    for call in 1..30 {
        assert!(grad() == first, "call {call} differs from the first");
    }
}

#[test]
fn autodiff_reaches_the_patched_gradients_through_the_conv2d_module_op() {
    type B = Autodiff<Flex>;
    let case = Case {
        stride: [1, 2],
        padding: [1, 0],
        ..Case::new(4, [3, 8], [12, 10], [3, 3])
    };
    let mut rng = StdRng::seed_from_u64(16);
    let (x, w) = (
        random(case.x_shape(), &mut rng),
        random(case.w_shape(), &mut rng),
    );
    let b = vec![0.5f32; case.c_out];
    let dy = random(case.y_shape(), &mut rng);
    let (_, dx_ref, dw_ref, db_ref) = reference(&case, &x, &w, &b, &dy);

    let device = Default::default();
    let xt = Tensor::<B, 4>::from_data(TensorData::new(x, case.x_shape()), &device).require_grad();
    let wt = Tensor::<B, 4>::from_data(TensorData::new(w, case.w_shape()), &device).require_grad();
    let bt = Tensor::<B, 1>::from_data(TensorData::new(b, [case.c_out]), &device).require_grad();
    let dyt = Tensor::<B, 4>::from_data(TensorData::new(dy, case.y_shape()), &device);
    let y = burn::tensor::module::conv2d(xt.clone(), wt.clone(), Some(bt.clone()), case.options());
    // d(sum(y · dy))/dy = dy: the backward pass receives exactly `dy`.
    let grads = (y * dyt).sum().backward();
    let grad = |t: Tensor<Flex, 4>| t.into_data().to_vec::<f32>().unwrap();
    assert_close(
        "autodiff input",
        &case,
        &grad(xt.grad(&grads).unwrap()),
        &dx_ref,
    );
    assert_close(
        "autodiff weight",
        &case,
        &grad(wt.grad(&grads).unwrap()),
        &dw_ref,
    );
    let db = bt
        .grad(&grads)
        .unwrap()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    assert_close("autodiff bias", &case, &db, &db_ref);
}

#[test]
fn max_pool_and_its_gradient_match_a_direct_reference() {
    type B = Autodiff<Flex>;
    let mut rng = StdRng::seed_from_u64(17);
    for (shape, kernel, stride) in [
        ([2, 3, 8, 8], [2, 2], [2, 2]),
        ([1, 2, 7, 9], [2, 2], [2, 2]),
        ([2, 1, 9, 9], [3, 3], [2, 2]),
    ] {
        let x = random(shape, &mut rng);
        let [n_, c_, h_, w_] = shape;
        let (oh_, ow_) = (
            (h_ - kernel[0]) / stride[0] + 1,
            (w_ - kernel[1]) / stride[1] + 1,
        );
        let dy = random([n_, c_, oh_, ow_], &mut rng);
        let (mut y_ref, mut dx_ref) = (Vec::new(), vec![0.0f64; x.len()]);
        for nc in 0..n_ * c_ {
            for oh in 0..oh_ {
                for ow in 0..ow_ {
                    let mut best = (f32::NEG_INFINITY, 0);
                    for i in 0..kernel[0] {
                        for j in 0..kernel[1] {
                            let at = (nc * h_ + oh * stride[0] + i) * w_ + ow * stride[1] + j;
                            if x[at] > best.0 {
                                best = (x[at], at);
                            }
                        }
                    }
                    y_ref.push(best.0 as f64);
                    dx_ref[best.1] += dy[(nc * oh_ + oh) * ow_ + ow] as f64;
                }
            }
        }
        let device = Default::default();
        let xt = Tensor::<B, 4>::from_data(TensorData::new(x, shape), &device).require_grad();
        let dyt = Tensor::<B, 4>::from_data(TensorData::new(dy, [n_, c_, oh_, ow_]), &device);
        let y = max_pool2d(xt.clone(), kernel, stride, [0, 0], [1, 1], false);
        let case = Case {
            stride,
            ..Case::new(n_, [c_, c_], [h_, w_], kernel)
        };
        let y_got = y.clone().into_data().to_vec::<f32>().unwrap();
        assert_close("max pool", &case, &y_got, &y_ref);
        let grads = (y * dyt).sum().backward();
        let dx = xt
            .grad(&grads)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_close("max pool gradient", &case, &dx, &dx_ref);
    }
}
