//! A model's parameters as one flat vector, in a fixed order (the order the module
//! visits them), and back. Probes work on flat vectors: distances, perturbations,
//! interpolations and gradient norms are then simple vector arithmetic.

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};

struct Collect<B: Backend> {
    parts: Vec<Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.parts.push(t.reshape([n]));
    }
}

/// All float parameters of `module` concatenated into one vector.
pub fn flatten<B: Backend, M: Module<B>>(module: &M) -> Tensor<B, 1> {
    let mut c = Collect { parts: Vec::new() };
    module.visit(&mut c);
    Tensor::cat(c.parts, 0)
}

struct Load<B: Backend> {
    flat: Tensor<B, 1>,
    offset: usize,
    require_grad: bool,
}

impl<B: Backend> ModuleMapper<B> for Load<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let value: Tensor<B, D> = self
            .flat
            .clone()
            .slice(self.offset..self.offset + n)
            .reshape(shape);
        self.offset += n;
        let value = if self.require_grad {
            value.detach().require_grad()
        } else {
            value
        };
        Param::from_mapped_value(id, value, mapper)
    }
}

/// `module` with its parameters replaced by the slices of `flat` (same order as
/// [`flatten`]). With `require_grad`, each parameter is a fresh autodiff leaf.
pub fn load<B: Backend, M: Module<B>>(module: M, flat: Tensor<B, 1>, require_grad: bool) -> M {
    module.map(&mut Load {
        flat,
        offset: 0,
        require_grad,
    })
}

struct CollectGrads<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    parts: Vec<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for CollectGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let shape = param.val().shape();
        let n = shape.num_elements();
        let g = match self.grads.get::<B::InnerBackend, D>(param.id) {
            Some(g) => g.reshape([n]),
            None => Tensor::zeros([n], &param.val().device()),
        };
        self.parts.push(g);
    }
}

/// The gradients of `module`'s parameters as one flat vector (zeros where a
/// parameter received none).
pub fn flatten_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> Tensor<B::InnerBackend, 1> {
    let mut c = CollectGrads::<B> {
        grads,
        parts: Vec::new(),
    };
    module.visit(&mut c);
    Tensor::cat(c.parts, 0)
}

/// A flat device vector as host `f32`s.
pub fn to_host<B: Backend>(t: Tensor<B, 1>) -> anyhow::Result<Vec<f32>> {
    let data = t.try_into_data().map_err(super::eval::device_error)?;
    Ok(data
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?)
}

/// Host `f32`s as a flat device vector.
pub fn to_device<B: Backend>(v: &[f32], device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), device)
}

/// The squared Euclidean norm of a device vector, read back.
pub fn norm_sq<B: Backend>(t: Tensor<B, 1>) -> anyhow::Result<f64> {
    let v: f64 = t
        .powi_scalar(2)
        .sum()
        .try_into_scalar()
        .map_err(super::eval::device_error)?
        .elem();
    Ok(v)
}
