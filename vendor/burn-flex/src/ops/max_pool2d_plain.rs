//! 2-D max pooling with indices for the plain case — no padding, no dilation, floor
//! mode — one output row at a time. This file is batchbench's patch to burn-flex
//! 0.21.0 (see `PATCHED.md`).
//!
//! Why: upstream pools through its 3-D path, with a bounds test per window element in
//! five nested loops; once the convolutions were GEMMs, the CNN's 2×2 pooling took
//! about a third of a training step. Same results: the first maximum in scan order
//! wins (strict `>`), a NaN in a window's first position stays, and indices are flat
//! within each `[H, W]` plane, as upstream's backward pass reads them.

use alloc::vec;
use burn_backend::{DType, Element};
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

/// Whether [`max_pool2d_with_indices`] handles these options.
pub fn applies(
    x_shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> bool {
    padding == [0, 0]
        && dilation == [1, 1]
        && !ceil_mode
        && kernel.iter().chain(&stride).all(|&v| v > 0)
        && x_shape.len() == 4
        && x_shape[2] >= kernel[0]
        && x_shape[3] >= kernel[1]
}

/// `(output, indices)` of max pooling `x: [N, C, H, W]`; see [`applies`].
pub fn max_pool2d_with_indices<T>(
    x: FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
) -> (FlexTensor, FlexTensor)
where
    T: bytemuck::Pod + Copy + PartialOrd + Send + Sync + Element,
{
    let x = x.to_contiguous();
    let shape = x.layout().shape();
    let (planes, in_h, in_w) = (shape[0] * shape[1], shape[2], shape[3]);
    let out_h = (in_h - kernel[0]) / stride[0] + 1;
    let out_w = (in_w - kernel[1]) / stride[1] + 1;
    let out_shape = Shape::from(vec![shape[0], shape[1], out_h, out_w]);
    let xs: &[T] = x.storage();
    let (plane_in, plane_out) = (in_h * in_w, out_h * out_w);

    let mut output = vec![T::default(); planes * plane_out];
    let mut indices = vec![0i64; planes * plane_out];
    let pool_plane = |p: usize, out: &mut [T], idx: &mut [i64]| {
        let plane = &xs[p * plane_in..][..plane_in];
        if kernel == [2, 2] && stride == [2, 2] {
            // The usual 2×2/2 window, unrolled: four compares and no inner loops.
            for oh in 0..out_h {
                let top = 2 * oh * in_w;
                let (r0, r1) = (&plane[top..][..in_w], &plane[top + in_w..][..in_w]);
                let out = &mut out[oh * out_w..][..out_w];
                let idx = &mut idx[oh * out_w..][..out_w];
                for ow in 0..out_w {
                    let c = 2 * ow;
                    let (mut best, mut at) = (r0[c], top + c);
                    if r0[c + 1] > best {
                        (best, at) = (r0[c + 1], top + c + 1);
                    }
                    if r1[c] > best {
                        (best, at) = (r1[c], top + in_w + c);
                    }
                    if r1[c + 1] > best {
                        (best, at) = (r1[c + 1], top + in_w + c + 1);
                    }
                    out[ow] = best;
                    idx[ow] = at as i64;
                }
            }
            return;
        }
        for oh in 0..out_h {
            let top = oh * stride[0] * in_w;
            for ow in 0..out_w {
                let first = top + ow * stride[1];
                let (mut best, mut at) = (plane[first], first);
                for i in 0..kernel[0] {
                    let row = first + i * in_w;
                    for (j, &v) in plane[row..row + kernel[1]].iter().enumerate() {
                        if v > best {
                            (best, at) = (v, row + j);
                        }
                    }
                }
                out[oh * out_w + ow] = best;
                idx[oh * out_w + ow] = at as i64;
            }
        }
    };
    if plane_out > 0 {
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            output
                .par_chunks_mut(plane_out)
                .zip(indices.par_chunks_mut(plane_out))
                .enumerate()
                .for_each(|(p, (out, idx))| pool_plane(p, out, idx));
        }
        #[cfg(not(feature = "rayon"))]
        output
            .chunks_mut(plane_out)
            .zip(indices.chunks_mut(plane_out))
            .enumerate()
            .for_each(|(p, (out, idx))| pool_plane(p, out, idx));
    }
    (
        FlexTensor::new(
            Bytes::from_elems(output),
            Layout::contiguous(out_shape.clone()),
            x.dtype(),
        ),
        FlexTensor::new(
            Bytes::from_elems(indices),
            Layout::contiguous(out_shape),
            DType::I64,
        ),
    )
}
