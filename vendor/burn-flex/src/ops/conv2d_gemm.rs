//! 2-D convolution as im2col + GEMM in NCHW, one image at a time, for the forward
//! pass and both gradients. This file is batchbench's patch to burn-flex 0.21.0 (see
//! `PATCHED.md`).
//!
//! Why: upstream runs `conv2d` through its 3-D path (an NHWC copy of the whole batch,
//! then tiles), the input gradient through `conv_transpose3d`, and the weight gradient
//! through Burn's generic default (swap batch and channels, convolve with the output
//! gradient as the kernel, swap back), each with strided copies; a CNN training step
//! spent about 20% of its time in GEMM. Here the three passes are GEMMs over the same
//! im2col matrix of one image, with K = C_in/groups · kh · kw rows and P = H_out · W_out
//! columns, per group:
//!
//! ```text
//! forward   y[n]  = W · col(x[n])              [C_out, P] = [C_out, K] · [K, P]
//! input     dx[n] = col2im(Wᵀ · dy[n])         [K, P]     = [K, C_out] · [C_out, P]
//! weight    dW    = Σₙ dy[n] · col(x[n])ᵀ      [C_out, K] = [C_out, P] · [P, K]
//! ```
//!
//! NCHW needs no layout change: an image's output `[C_out, H_out·W_out]` is the GEMM's
//! result as is, and the weight `[C_out, C_in/groups, kh, kw]` is the `[C_out, K]`
//! matrix. Images run in parallel on rayon's pool; each GEMM runs on one thread (the
//! batch gives the parallelism). The weight gradient accumulates over fixed chunks of
//! images and adds the partial sums in order, so results are bitwise reproducible.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::ops::ConvOptions;
use burn_backend::ops::conv::calculate_conv_output_size;
use burn_std::Shape;

use crate::{FlexTensor, Layout};

/// The element types with a native GEMM here; half precision goes through f32.
pub trait ConvFloat:
    bytemuck::Pod + burn_backend::Element + num_traits::Float + Send + Sync + 'static
{
}
impl ConvFloat for f32 {}
impl ConvFloat for f64 {}

/// The sizes of one 2-D convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    channels_in: usize,
    in_h: usize,
    in_w: usize,
    channels_out: usize,
    groups: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn new(x_shape: &[usize], w_shape: &[usize], options: &ConvOptions<2>) -> Self {
        let kernel = [w_shape[2], w_shape[3]];
        let out = |d: usize, input: usize| {
            calculate_conv_output_size(
                kernel[d],
                options.stride[d],
                options.padding[d],
                options.dilation[d],
                input,
            )
        };
        Self {
            batch: x_shape[0],
            channels_in: x_shape[1],
            in_h: x_shape[2],
            in_w: x_shape[3],
            channels_out: w_shape[0],
            groups: options.groups,
            kernel,
            stride: options.stride,
            padding: options.padding,
            dilation: options.dilation,
            out_h: out(0, x_shape[2]),
            out_w: out(1, x_shape[3]),
        }
    }

    /// Input channels per group.
    fn group_in(&self) -> usize {
        self.channels_in / self.groups
    }
    /// Output channels per group.
    fn group_out(&self) -> usize {
        self.channels_out / self.groups
    }
    /// Rows of the im2col matrix (one group).
    fn k(&self) -> usize {
        self.group_in() * self.kernel[0] * self.kernel[1]
    }
    /// Columns of the im2col matrix: output pixels.
    fn p(&self) -> usize {
        self.out_h * self.out_w
    }
    fn image_in(&self) -> usize {
        self.channels_in * self.in_h * self.in_w
    }
    fn image_out(&self) -> usize {
        self.channels_out * self.p()
    }

    /// The output positions `o` along one axis whose input `o·stride + offset` lies in
    /// `0..input`: `lo..hi`, so the inner loops carry no bounds test.
    fn valid(out: usize, input: usize, stride: usize, offset: isize) -> (usize, usize) {
        let (input, stride) = (input as isize, stride as isize);
        let lo = if offset >= 0 {
            0
        } else {
            (-offset + stride - 1) / stride
        };
        let hi = if offset >= input {
            0
        } else {
            (input - offset + stride - 1) / stride
        };
        let hi = (hi as usize).min(out);
        ((lo as usize).min(hi), hi)
    }

    /// Visits every row of the im2col matrix of one group: `(row, channel, ki, kj)`,
    /// where row `((c·kh) + ki)·kw + kj` holds input channel `c`'s pixels under kernel
    /// position (ki, kj).
    fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize, usize)) {
        let [kh, kw] = self.kernel;
        for c in 0..self.group_in() {
            for ki in 0..kh {
                for kj in 0..kw {
                    f((c * kh + ki) * kw + kj, c, ki, kj);
                }
            }
        }
    }

    /// The input row and the valid output columns for output row `oh` of kernel row `ki`,
    /// or None when that output row reads padding only.
    fn input_row(&self, oh: usize, ki: usize) -> Option<usize> {
        let ih = (oh * self.stride[0] + ki * self.dilation[0]) as isize - self.padding[0] as isize;
        (ih >= 0 && (ih as usize) < self.in_h).then_some(ih as usize)
    }

    fn column_range(&self, kj: usize) -> (usize, usize, isize) {
        let offset = (kj * self.dilation[1]) as isize - self.padding[1] as isize;
        let (lo, hi) = Self::valid(self.out_w, self.in_w, self.stride[1], offset);
        (lo, hi, offset)
    }
}

/// im2col of one group of one image: `col[K, P]` from `image[C_in, H, W]`.
fn im2col<T: ConvFloat>(g: &Geometry, image: &[T], group: usize, col: &mut [T]) {
    let (p, plane) = (g.p(), g.in_h * g.in_w);
    let first_channel = group * g.group_in();
    g.for_each_row(|row, c, ki, kj| {
        let src = &image[(first_channel + c) * plane..][..plane];
        let dst = &mut col[row * p..][..p];
        let (lo, hi, offset) = g.column_range(kj);
        for oh in 0..g.out_h {
            let out_row = &mut dst[oh * g.out_w..][..g.out_w];
            let Some(ih) = g.input_row(oh, ki) else {
                out_row.fill(T::zero());
                continue;
            };
            let in_row = &src[ih * g.in_w..][..g.in_w];
            out_row[..lo].fill(T::zero());
            out_row[hi..].fill(T::zero());
            let start = (lo as isize * g.stride[1] as isize + offset) as usize;
            if g.stride[1] == 1 {
                out_row[lo..hi].copy_from_slice(&in_row[start..start + (hi - lo)]);
            } else {
                for (o, v) in out_row[lo..hi].iter_mut().enumerate() {
                    *v = in_row[start + o * g.stride[1]];
                }
            }
        }
    });
}

/// col2im of one group of one image: adds `col[K, P]` into `image[C_in, H, W]`.
fn col2im<T: ConvFloat>(g: &Geometry, col: &[T], group: usize, image: &mut [T]) {
    let (p, plane) = (g.p(), g.in_h * g.in_w);
    let first_channel = group * g.group_in();
    g.for_each_row(|row, c, ki, kj| {
        let dst = &mut image[(first_channel + c) * plane..][..plane];
        let src = &col[row * p..][..p];
        let (lo, hi, offset) = g.column_range(kj);
        for oh in 0..g.out_h {
            let Some(ih) = g.input_row(oh, ki) else {
                continue;
            };
            let in_row = &mut dst[ih * g.in_w..][..g.in_w];
            let out_row = &src[oh * g.out_w..][..g.out_w];
            let start = (lo as isize * g.stride[1] as isize + offset) as usize;
            for (o, &v) in out_row[lo..hi].iter().enumerate() {
                in_row[start + o * g.stride[1]] = in_row[start + o * g.stride[1]] + v;
            }
        }
    });
}

/// A matrix operand: its data and its (row, column) strides in elements.
#[derive(Clone, Copy)]
struct Operand<'a, T> {
    data: &'a [T],
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> Operand<'a, T> {
    /// A row-major `[rows, cols]` matrix.
    fn rows(data: &'a [T], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }
    /// The transpose of a row-major `[cols, rows]` matrix.
    fn transposed(data: &'a [T], rows: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: rows,
        }
    }
}

/// `dst[m, n] (+)= lhs[m, k] · rhs[k, n]`, `dst` row-major, on the calling thread.
fn matmul<T: ConvFloat>(
    dst: &mut [T],
    lhs: Operand<T>,
    rhs: Operand<T>,
    [m, k, n]: [usize; 3],
    accumulate: bool,
) {
    assert!(dst.len() >= m * n);
    let last = |o: &Operand<T>, rows: usize, cols: usize| {
        (rows.max(1) - 1) * o.row_stride + (cols.max(1) - 1) * o.col_stride
    };
    assert!(m * k == 0 || last(&lhs, m, k) < lhs.data.len());
    assert!(k * n == 0 || last(&rhs, k, n) < rhs.data.len());
    // SAFETY: the asserts above keep every element gemm reads or writes in bounds.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Runs `f(n, out_image, scratch)` for every image, in parallel, over `out` split into
/// images; `scratch` is a buffer of `scratch_len` elements reused within a rayon task
/// (its contents are whatever the previous image left).
fn per_image<T: ConvFloat>(
    out: &mut [T],
    image_len: usize,
    scratch_len: usize,
    f: impl Fn(usize, &mut [T], &mut [T]) + Sync,
) {
    if image_len == 0 {
        return;
    }
    let scratch = || vec![T::zero(); scratch_len];
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(image_len)
            .enumerate()
            .for_each_init(scratch, |s, (n, o)| f(n, o, s));
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut s = scratch();
        out.chunks_mut(image_len)
            .enumerate()
            .for_each(|(n, o)| f(n, o, &mut s));
    }
}

fn contiguous<T: ConvFloat>(t: &FlexTensor) -> FlexTensor {
    debug_assert_eq!(t.dtype(), T::dtype());
    t.to_contiguous()
}

fn tensor<T: ConvFloat>(data: Vec<T>, shape: &[usize]) -> FlexTensor {
    FlexTensor::new(
        burn_std::Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape.to_vec())),
        T::dtype(),
    )
}

/// Forward: `y = conv2d(x, weight) + bias`.
pub fn conv2d<T: ConvFloat>(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let (x, weight) = (contiguous::<T>(&x), contiguous::<T>(&weight));
    let g = Geometry::new(x.layout().shape(), weight.layout().shape(), options);
    let (xs, ws): (&[T], &[T]) = (x.storage(), weight.storage());
    let bias = bias.map(|b| contiguous::<T>(&b));
    let bias: Option<&[T]> = bias.as_ref().map(|b| b.storage());
    let (k, p, out_g) = (g.k(), g.p(), g.group_out());

    let mut y = vec![T::zero(); g.batch * g.image_out()];
    per_image(&mut y, g.image_out(), k * p, |n, out, col| {
        let image = &xs[n * g.image_in()..][..g.image_in()];
        for group in 0..g.groups {
            im2col(&g, image, group, col);
            matmul(
                &mut out[group * out_g * p..][..out_g * p],
                Operand::rows(&ws[group * out_g * k..], k),
                Operand::rows(col, p),
                [out_g, k, p],
                false,
            );
        }
        if let Some(bias) = bias {
            for (channel, row) in out.chunks_mut(p).enumerate() {
                row.iter_mut().for_each(|v| *v = *v + bias[channel]);
            }
        }
    });
    tensor(y, &[g.batch, g.channels_out, g.out_h, g.out_w])
}

/// The input gradient: `dx = col2im(Wᵀ · dy)` per image.
pub fn conv2d_x_backward<T: ConvFloat>(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let (weight, dy) = (contiguous::<T>(&weight), contiguous::<T>(&output_grad));
    let g = Geometry::new(x.layout().shape(), weight.layout().shape(), options);
    let (ws, dys): (&[T], &[T]) = (weight.storage(), dy.storage());
    let (k, p, out_g) = (g.k(), g.p(), g.group_out());

    let mut dx = vec![T::zero(); g.batch * g.image_in()];
    per_image(&mut dx, g.image_in(), k * p, |n, image, dcol| {
        let dy = &dys[n * g.image_out()..][..g.image_out()];
        for group in 0..g.groups {
            matmul(
                dcol,
                Operand::transposed(&ws[group * out_g * k..][..out_g * k], k),
                Operand::rows(&dy[group * out_g * p..], p),
                [k, out_g, p],
                false,
            );
            col2im(&g, dcol, group, image);
        }
    });
    tensor(dx, &[g.batch, g.channels_in, g.in_h, g.in_w])
}

/// The weight gradient: `dW = Σₙ dy[n] · col(x[n])ᵀ`.
pub fn conv2d_weight_backward<T: ConvFloat>(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let (x, dy) = (contiguous::<T>(&x), contiguous::<T>(&output_grad));
    let w_shape = weight.layout().shape().to_vec();
    let g = Geometry::new(x.layout().shape(), &w_shape, options);
    let (xs, dys): (&[T], &[T]) = (x.storage(), dy.storage());
    let (k, p, out_g) = (g.k(), g.p(), g.group_out());
    let len = g.channels_out * k;

    let accumulate_image = |dw: &mut [T], col: &mut Vec<T>, n: usize| {
        let image = &xs[n * g.image_in()..][..g.image_in()];
        let dy = &dys[n * g.image_out()..][..g.image_out()];
        for group in 0..g.groups {
            im2col(&g, image, group, col);
            matmul(
                &mut dw[group * out_g * k..][..out_g * k],
                Operand::rows(&dy[group * out_g * p..], p),
                Operand::transposed(col, p),
                [out_g, p, k],
                true,
            );
        }
    };
    // The images are cut into at most CHUNKS contiguous chunks, whatever the thread
    // count or timing, and the partial gradients are added in chunk order, so the sum
    // is bitwise the same from run to run (rayon's fold would split by work stealing).
    const CHUNKS: usize = 32;
    let per_chunk = g.batch.div_ceil(CHUNKS).max(1);
    let chunk_grad = |chunk: usize| {
        let (mut dw, mut col) = (vec![T::zero(); len], vec![T::zero(); k * p]);
        for n in chunk * per_chunk..((chunk + 1) * per_chunk).min(g.batch) {
            accumulate_image(&mut dw, &mut col, n);
        }
        dw
    };
    let chunks = g.batch.div_ceil(per_chunk);
    #[cfg(feature = "rayon")]
    let partials: Vec<Vec<T>> = {
        use rayon::prelude::*;
        (0..chunks).into_par_iter().map(chunk_grad).collect()
    };
    #[cfg(not(feature = "rayon"))]
    let partials: Vec<Vec<T>> = (0..chunks).map(chunk_grad).collect();
    let mut dw = vec![T::zero(); len];
    for partial in partials {
        dw.iter_mut().zip(partial).for_each(|(a, b)| *a = *a + b);
    }
    tensor(dw, &w_shape)
}

/// The bias gradient: the output gradient summed over images and pixels.
pub fn conv2d_bias_backward<T: ConvFloat>(
    output_grad: FlexTensor,
    bias_shape: &[usize],
) -> FlexTensor {
    let dy = contiguous::<T>(&output_grad);
    let shape = dy.layout().shape();
    let (channels, p) = (shape[1], shape[2] * shape[3]);
    let dys: &[T] = dy.storage();
    let mut db = vec![T::zero(); channels];
    if p > 0 {
        for (i, row) in dys.chunks(p).enumerate() {
            db[i % channels] = db[i % channels] + sum(row);
        }
    }
    tensor(db, bias_shape)
}

/// A sum in 16 independent lanes, so the compiler vectorizes it.
fn sum<T: ConvFloat>(values: &[T]) -> T {
    let mut lanes = [T::zero(); 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = *lane + v;
        }
    }
    let tail = rest.iter().fold(T::zero(), |s, &v| s + v);
    lanes.iter().fold(tail, |s, &v| s + v)
}
