//! Probe values as a record stores them: typed, so that analysis and reports read
//! fields rather than string paths into JSON.
//!
//! The JSON shape is the one records have always had (`curve[i].probes.noise_scale`,
//! `probes.sharpness.epsilon["1e-3"]`), so older records read unchanged. A value that
//! was not measured is absent; a value that could not be computed (NaN, or gradient
//! diversity with all-zero gradients) is absent too, never a made-up number.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Probes measured at an evaluation point (see `probe::ProbeRunner::at_eval`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvalProbes {
    /// ‖θ − θ₀‖: distance travelled from the initial weights (Hoffer et al. 2017).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_distance: Option<f64>,
    /// The same relative to ‖θ₀‖.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_distance_rel: Option<f64>,
    /// McCandlish et al.'s simple noise scale B_simple = tr(Σ)/|G|².
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_scale: Option<f64>,
    /// Its denominator: the unbiased estimate of |G|².
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_g2: Option<f64>,
    /// Its numerator: the unbiased estimate of tr(Σ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_trace_sigma: Option<f64>,
    /// ‖Σgᵢ‖² / Σ‖gᵢ‖² over single-example gradients (the README's definition; the
    /// reciprocal of Yin et al.'s Δ_S up to the count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_diversity: Option<f64>,
}

impl EvalProbes {
    /// Every probe by its record name, measured or not, in a fixed order.
    pub fn values(&self) -> [(&'static str, Option<f64>); 6] {
        [
            ("weight_distance", self.weight_distance),
            ("weight_distance_rel", self.weight_distance_rel),
            ("noise_scale", self.noise_scale),
            ("noise_g2", self.noise_g2),
            ("noise_trace_sigma", self.noise_trace_sigma),
            ("gradient_diversity", self.gradient_diversity),
        ]
    }

    /// Whether nothing was measured (the field is then left out of the record).
    pub fn is_empty(&self) -> bool {
        self.values().iter().all(|(_, v)| v.is_none())
    }
}

/// Probes measured once at the end of a run (see `probe::ProbeRunner::at_end`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EndProbes {
    /// Keskar et al.'s ε-sharpness of the final weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharpness: Option<Sharpness>,
}

impl EndProbes {
    /// Whether nothing was measured (the field is then left out of the record).
    pub fn is_empty(&self) -> bool {
        self.sharpness.is_none()
    }
}

/// ε-sharpness at each ε asked for, and how it was measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sharpness {
    /// Sharpness by ε, keyed as written in scientific notation (`"1e-3"`); absent
    /// where it could not be computed.
    pub epsilon: BTreeMap<String, Option<f64>>,
    /// Training examples in the fixed subset it was measured on.
    pub samples: u64,
    /// Ascent steps per ε.
    pub steps: u64,
    /// The definition used, in words.
    pub method: String,
}

/// `Some(v)` for a finite value: what JSON can hold and a report can plot.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_shape_is_the_one_older_records_have() {
        let old = r#"{"weight_distance":0.0,"weight_distance_rel":0.0,"noise_scale":12.5,"noise_g2":1.0,"noise_trace_sigma":12.5,"gradient_diversity":null}"#;
        let p: EvalProbes = serde_json::from_str(old).unwrap();
        assert_eq!(p.noise_scale, Some(12.5));
        assert_eq!(p.gradient_diversity, None);
        let again = serde_json::to_value(&p).unwrap();
        assert_eq!(again["weight_distance"], 0.0);
        assert!(again.get("gradient_diversity").is_none());

        let end = r#"{"sharpness":{"epsilon":{"1e-3":4.5,"5e-4":2.0},"samples":300,"steps":10,"method":"m"}}"#;
        let e: EndProbes = serde_json::from_str(end).unwrap();
        let s = e.sharpness.as_ref().unwrap();
        assert_eq!(s.epsilon["1e-3"], Some(4.5));
        assert_eq!(serde_json::to_string(&e).unwrap(), end);
        assert!(EvalProbes::default().is_empty() && EndProbes::default().is_empty());
    }
}
