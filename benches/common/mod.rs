//! One training step as the worker runs it (data resident on the device, a batch
//! gathered by index, forward, backward, SGD, a device sync), shared by the benches.

use burn::optim::Sgd;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};

use batchbench::data::synthetic::{SyntheticParams, generate};
use batchbench::model::{InputShape, Model};
use batchbench::suite::{ModelKind, ModelSpec};
use batchbench::train::{DeviceData, cross_entropy};

/// The MLP 784-512-512-10 and the CNN (32, 64 | 128) of `suites/step-bench.yaml`.
pub fn models() -> Vec<(&'static str, ModelSpec)> {
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

/// 8,192 synthetic 28×28 images on the device and their gather order.
pub struct Data<B: AutodiffBackend> {
    pub dev: DeviceData<B>,
    pub perm: Tensor<B, 1, Int>,
    pub n: usize,
    pub device: B::Device,
}

pub const INPUT: InputShape = InputShape {
    features: 784,
    image: Some([1, 28, 28]),
    classes: 10,
};

impl<B: AutodiffBackend> Data<B> {
    pub fn new(device: B::Device) -> Self {
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
        let n = data.train.len();
        let perm = Tensor::from_data(
            TensorData::new((0..n as i64).rev().collect::<Vec<_>>(), [n]),
            &device,
        );
        Data {
            dev,
            perm,
            n,
            device,
        }
    }
}

/// A model, its optimizer and a cursor into the data: `step()` is one training step.
pub struct Trainer<'a, B: AutodiffBackend> {
    data: &'a Data<B>,
    model: Model<B>,
    optim: OptimizerAdaptor<Sgd<B::InnerBackend>, Model<B>, B>,
    batch: usize,
    cursor: usize,
}

impl<'a, B: AutodiffBackend> Trainer<'a, B> {
    pub fn new(data: &'a Data<B>, spec: &ModelSpec, batch: usize) -> Self {
        Trainer {
            data,
            model: Model::<B>::new(spec, INPUT, 0, &data.device),
            optim: SgdConfig::new().init::<B, Model<B>>(),
            batch,
            cursor: 0,
        }
    }

    pub fn step(&mut self) {
        let (d, batch) = (self.data, self.batch);
        if self.cursor + batch > d.n {
            self.cursor = 0;
        }
        let idx = d.perm.clone().slice(self.cursor..self.cursor + batch);
        self.cursor += batch;
        let loss = cross_entropy(
            self.model
                .forward(d.dev.train_x.clone().select(0, idx.clone())),
            d.dev.train_y.clone().select(0, idx),
        );
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(0.01, self.model.clone(), grads);
        // Synchronize so the measurement covers the work, not its queueing.
        B::sync(&d.device).unwrap();
    }
}
