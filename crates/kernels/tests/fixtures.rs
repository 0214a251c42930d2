//! Cross-language vectors (issue 7.1): the kernels against PyTorch's float64 results in
//! `test/fixtures/vectors.txt` (written by `scripts/gen-fixtures.py`; vitest checks the same file
//! through the TS modules). Natively this runs the scalar twins behind the `abi` exports.
//! Tolerances (|got - want| <= atol + rtol |want|), the same as test/fixtures.test.ts:
//! dot products rtol 1e-5 atol 2e-6 (f32 accumulation over <= 63 terms); activations forward
//! rtol 2e-6 atol 1e-37 (a few ulp), backward rtol 1e-5 atol 2e-7 (they read the f32 output y, so
//! 1 - y² is off by ~ulp(1)); losses rtol 1e-5 atol 1e-6; max pooling forward exact, backward rtol
//! 1e-6; average pooling and dropout as dot products (a sum of kh·kw terms and a division, or one
//! product with the f32 mask scale 1 / (1 - p)). Conv cases with padding=same run as pad_forward,
//! the valid conv on the padded input, and pad_backward_delta. The parameter gradients are written
//! with beta = 0 into NaN-filled buffers, so the overwrite path is the one checked against PyTorch.
//! Containers and views (Sequential, AutoEncoder, Flatten, Reshape) are TS-only and skipped here.

use std::collections::HashMap;
use torchlet_kernels::abi;

struct Case {
    name: String,
    ty: String,
    args: HashMap<String, String>,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// The Rust twin of `readVectors` in test/vectors.ts: values parse as f64, then round to f32.
fn read_vectors(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut words = line.split(' ');
        let head = words.next().unwrap();
        if head == "case" {
            let name = words.next().unwrap().to_string();
            let ty = words.next().unwrap().to_string();
            let args = words.map(|kv| {
                let eq = kv.find('=').unwrap();
                (kv[..eq].to_string(), kv[eq + 1..].to_string())
            });
            cur = Some(Case { name, ty, args: args.collect(), tensors: HashMap::new() });
        } else if head == "end" {
            cases.push(cur.take().unwrap());
        } else {
            let dims = words.next().unwrap();
            let shape: Vec<usize> =
                if dims == "-" { vec![] } else { dims.split(',').map(|d| d.parse().unwrap()).collect() };
            let values: Vec<f32> = words.map(parse_value).collect();
            assert_eq!(values.len(), shape.iter().product::<usize>(), "{}", head);
            cur.as_mut().unwrap().tensors.insert(head.to_string(), (shape, values));
        }
    }
    cases
}

fn parse_value(s: &str) -> f32 {
    match s {
        "inf" => f32::INFINITY,
        "-inf" => f32::NEG_INFINITY,
        "nan" => f32::NAN,
        _ => s.parse::<f64>().unwrap() as f32,
    }
}

impl Case {
    fn t(&self, name: &str) -> &Vec<f32> {
        &self.tensors.get(name).unwrap_or_else(|| panic!("{}: no {}", self.name, name)).1
    }
    fn shape(&self, name: &str) -> &Vec<usize> {
        &self.tensors[name].0
    }
    /// The integers of `Type(a,b,…)` in `spec`.
    fn spec(&self) -> Vec<usize> {
        let s = &self.args["spec"];
        let inner = &s[s.find('(').unwrap() + 1..s.len() - 1];
        inner.split(',').filter(|a| !a.is_empty()).map(|a| a.parse().unwrap()).collect()
    }
}

/// Panics with the case, tensor and element unless every value is close; returns the worst ratio.
fn check(case: &str, what: &str, got: &[f32], want: &[f32], rtol: f64, atol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{} {}: length", case, what);
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g as f64, w as f64);
        let err = (g - w).abs();
        // As pairRatio in test/compare.ts: NaN matches only NaN, an infinity only itself.
        let ratio = if g.is_nan() || w.is_nan() {
            if g.is_nan() && w.is_nan() { 0.0 } else { f64::INFINITY }
        } else if g.is_infinite() || w.is_infinite() {
            if g == w { 0.0 } else { f64::INFINITY }
        } else if err == 0.0 {
            0.0
        } else {
            err / (atol + rtol * w.abs())
        };
        assert!(ratio <= 1.0, "{} {}[{}]: got {}, want {} (rtol {}, atol {})", case, what, i, g, w, rtol, atol);
        worst = worst.max(ratio);
    }
    worst
}

const DOT: (f64, f64) = (1e-5, 2e-6);

fn nan(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

/// Runs one module case through the kernels; returns false for a TS-only type.
unsafe fn run_module(c: &Case) -> bool {
    let ty = c.ty.as_str();
    if matches!(ty, "Sequential" | "AutoEncoder" | "Flatten" | "Reshape") {
        return false;
    }
    if ty == "Dropout" {
        return run_dropout(c);
    }
    let a = c.spec();
    let x = c.t("x");
    let delta = c.t("delta");
    let xs = c.shape("x");
    let (ny, nx) = (c.t("y").len(), x.len());
    let (mut y, mut dx) = (nan(ny), nan(nx));
    let mut grads: Vec<(&str, Vec<f32>)> = Vec::new();
    let (fwd_tol, bwd_tol) = match ty {
        "TanH" | "Sigmoid" | "ReLU" | "Softmax" => ((2e-6, 1e-37), (1e-5, 2e-7)),
        "MaxPool1D" | "MaxPool2D" | "Upsample1D" | "Upsample2D" => ((0.0, 0.0), (1e-6, 1e-7)),
        "AvgPool1D" | "AvgPool2D" => (DOT, DOT),
        _ => (DOT, DOT),
    };
    match ty {
        "Linear" | "Conv1D" | "Conv2D" => {
            let (w, b) = (c.t("param.weight"), c.t("param.bias"));
            let (mut gw, mut gb) = (nan(w.len()), nan(b.len()));
            let batch = xs[0];
            if ty == "Linear" {
                let (nin, nout) = (a[0], a[1]);
                abi::linear_forward(x.as_ptr(), y.as_mut_ptr(), w.as_ptr(), b.as_ptr(), batch, nin, nout);
                abi::linear_backward_update_gradient(
                    x.as_ptr(), delta.as_ptr(), gw.as_mut_ptr(), gb.as_mut_ptr(), batch, nin, nout, 0,
                );
                abi::linear_backward_delta(delta.as_ptr(), dx.as_mut_ptr(), w.as_ptr(), batch, nin, nout);
            } else {
                // Conv1D is the 2-D layout with height = kh = 1: [k, cin, cout, s] vs [kh, kw, cin, cout, s].
                let (kh, kw, cin, cout, s) =
                    if ty == "Conv1D" { (1, a[0], a[1], a[2], a[3]) } else { (a[0], a[1], a[2], a[3], a[4]) };
                let (h, wd) = if ty == "Conv1D" { (1, xs[1]) } else { (xs[1], xs[2]) };
                // padding=same: PyTorch's split, (k - 1) / 2 before and the rest after.
                let same = c.args.get("padding").map(String::as_str) == Some("same");
                let pads = |k: usize| if same { ((k - 1) / 2, k - 1 - (k - 1) / 2) } else { (0, 0) };
                let ((top, bottom), (left, right)) = (pads(kh), pads(kw));
                let (hp, wp) = (h + top + bottom, wd + left + right);
                let mut xp = nan(batch * hp * wp * cin);
                abi::pad_forward(x.as_ptr(), xp.as_mut_ptr(), batch, h, wd, cin, top, bottom, left, right);
                let mut dxp = nan(xp.len());
                let (xpp, dp, gwp, gbp) = (xp.as_ptr(), delta.as_ptr(), gw.as_mut_ptr(), gb.as_mut_ptr());
                if ty == "Conv1D" {
                    abi::conv1d_forward(xpp, y.as_mut_ptr(), w.as_ptr(), b.as_ptr(), batch, wp, cin, cout, kw, s);
                    abi::conv1d_backward_update_gradient(xpp, dp, gwp, gbp, batch, wp, cin, cout, kw, s, 0);
                    let mut work = nan(abi::conv1d_workspace_len(wp, cin, cout, kw, s).max(1));
                    abi::conv1d_backward_delta(
                        dp, dxp.as_mut_ptr(), w.as_ptr(), work.as_mut_ptr(), batch, wp, cin, cout, kw, s,
                    );
                } else {
                    abi::conv2d_forward(
                        xpp, y.as_mut_ptr(), w.as_ptr(), b.as_ptr(), batch, hp, wp, cin, cout, kh, kw, s,
                    );
                    abi::conv2d_backward_update_gradient(xpp, dp, gwp, gbp, batch, hp, wp, cin, cout, kh, kw, s, 0);
                    let mut work = nan(abi::conv2d_workspace_len(hp, wp, cin, cout, kh, kw, s).max(1));
                    abi::conv2d_backward_delta(
                        dp, dxp.as_mut_ptr(), w.as_ptr(), work.as_mut_ptr(), batch, hp, wp, cin, cout, kh, kw, s,
                    );
                }
                abi::pad_backward_delta(dxp.as_ptr(), dx.as_mut_ptr(), batch, h, wd, cin, top, bottom, left, right);
            }
            grads.push(("grad.weight", gw));
            grads.push(("grad.bias", gb));
        }
        "AvgPool1D" | "AvgPool2D" => {
            // AvgPool1D is AvgPool2D with height 1 and kh 1: spec (k, s) vs (kh, kw, s).
            let (h, w, c, kh, kw, s) =
                if ty == "AvgPool1D" { (1, xs[1], xs[2], 1, a[0], a[1]) } else { (xs[1], xs[2], xs[3], a[0], a[1], a[2]) };
            abi::avgpool_forward(x.as_ptr(), y.as_mut_ptr(), xs[0], h, w, c, kh, kw, s);
            abi::avgpool_backward_delta(delta.as_ptr(), dx.as_mut_ptr(), xs[0], h, w, c, kh, kw, s);
        }
        "MaxPool1D" | "MaxPool2D" => {
            let mut argmax = vec![u32::MAX; ny];
            if ty == "MaxPool1D" {
                abi::maxpool1d_forward(x.as_ptr(), y.as_mut_ptr(), argmax.as_mut_ptr(), xs[0], xs[1], xs[2], a[0], a[1]);
            } else {
                abi::maxpool2d_forward(
                    x.as_ptr(), y.as_mut_ptr(), argmax.as_mut_ptr(), xs[0], xs[1], xs[2], xs[3], a[0], a[1], a[2],
                );
            }
            abi::maxpool_backward_delta(delta.as_ptr(), argmax.as_ptr(), dx.as_mut_ptr(), ny, nx);
        }
        "Upsample1D" | "Upsample2D" => {
            // Upsample1D is Upsample2D with height 1 and a height factor of 1.
            let (h, w, c, sh, sw) =
                if ty == "Upsample1D" { (1, xs[1], xs[2], 1, a[0]) } else { (xs[1], xs[2], xs[3], a[0], a[1]) };
            abi::upsample_forward(x.as_ptr(), y.as_mut_ptr(), xs[0], h, w, c, sh, sw);
            abi::upsample_backward_delta(delta.as_ptr(), dx.as_mut_ptr(), xs[0], h, w, c, sh, sw);
        }
        "TanH" => {
            abi::tanh_forward(x.as_ptr(), y.as_mut_ptr(), nx);
            abi::tanh_backward_delta(y.as_ptr(), delta.as_ptr(), dx.as_mut_ptr(), nx);
        }
        "Sigmoid" => {
            abi::sigmoid_forward(x.as_ptr(), y.as_mut_ptr(), nx);
            abi::sigmoid_backward_delta(y.as_ptr(), delta.as_ptr(), dx.as_mut_ptr(), nx);
        }
        "ReLU" => {
            abi::relu_forward(x.as_ptr(), y.as_mut_ptr(), nx);
            abi::relu_backward_delta(x.as_ptr(), delta.as_ptr(), dx.as_mut_ptr(), nx);
        }
        "Softmax" => {
            let cols = *xs.last().unwrap();
            abi::softmax_forward(x.as_ptr(), y.as_mut_ptr(), nx / cols, cols);
            abi::softmax_backward_delta(y.as_ptr(), delta.as_ptr(), dx.as_mut_ptr(), nx / cols, cols);
        }
        _ => panic!("{}: unknown type {}", c.name, ty),
    }
    check(&c.name, "y", &y, c.t("y"), fwd_tol.0, fwd_tol.1);
    check(&c.name, "dx", &dx, c.t("dx"), bwd_tol.0, bwd_tol.1);
    for (name, g) in &grads {
        check(&c.name, name, g, c.t(name), bwd_tol.0, bwd_tol.1);
    }
    true
}

/// Runs one Dropout case: the stored 0/1 mask becomes the layer's mask, 0 or 1 / (1 - p) in f32,
/// as TS writes it.
unsafe fn run_dropout(c: &Case) -> bool {
    let spec = &c.args["spec"];
    let p: f64 = spec["Dropout(".len()..spec.len() - 1].parse().unwrap();
    let scale = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = c.t("mask").iter().map(|&m| m * scale).collect();
    let (x, delta) = (c.t("x"), c.t("delta"));
    let (mut y, mut dx) = (nan(x.len()), nan(x.len()));
    abi::dropout_forward(x.as_ptr(), mask.as_ptr(), y.as_mut_ptr(), x.len());
    abi::dropout_backward_delta(delta.as_ptr(), mask.as_ptr(), dx.as_mut_ptr(), x.len());
    check(&c.name, "y", &y, c.t("y"), DOT.0, DOT.1);
    check(&c.name, "dx", &dx, c.t("dx"), DOT.0, DOT.1);
    true
}

/// Runs one loss case; returns false for a module case.
unsafe fn run_loss(c: &Case) -> bool {
    type Fwd = unsafe extern "C" fn(*const f32, *const f32, usize, usize) -> f32;
    type Bwd = unsafe extern "C" fn(*const f32, *const f32, *mut f32, usize, usize);
    let (fwd, bwd): (Fwd, Bwd) = match c.ty.as_str() {
        "MSELoss" => (abi::mse_loss_forward, abi::mse_loss_backward),
        "BCELoss" => (abi::bce_loss_forward, abi::bce_loss_backward),
        "CrossEntropyLoss" => (abi::cross_entropy_loss_forward, abi::cross_entropy_loss_backward),
        "LogSoftmaxCrossEntropy" => (abi::log_softmax_cross_entropy_forward, abi::log_softmax_cross_entropy_backward),
        _ => return false,
    };
    let (y, yhat) = (c.t("target"), c.t("yhat"));
    let rows = c.shape("yhat")[0];
    let cols = yhat.len() / rows;
    let value = fwd(y.as_ptr(), yhat.as_ptr(), rows, cols);
    check(&c.name, "loss", &[value], c.t("loss"), 1e-5, 1e-6);
    let mut grad = nan(yhat.len());
    bwd(y.as_ptr(), yhat.as_ptr(), grad.as_mut_ptr(), rows, cols);
    check(&c.name, "grad", &grad, c.t("grad"), 1e-5, 1e-6);
    true
}

#[test]
fn kernels_match_pytorch_vectors() {
    // The buffers here are Rust Vecs, not tl_alloc blocks: the bounds checks are the wasm's.
    torchlet_kernels::guard::without_checks(kernels_match_pytorch_vectors_unchecked)
}

fn kernels_match_pytorch_vectors_unchecked() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/fixtures/vectors.txt");
    let text = std::fs::read_to_string(path).expect("test/fixtures/vectors.txt");
    let cases = read_vectors(&text);
    assert!(cases.len() >= 77, "only {} cases", cases.len());
    let types: Vec<&str> = cases.iter().map(|c| c.ty.as_str()).collect();
    for ty in ["AvgPool1D", "AvgPool2D", "Dropout"] {
        assert!(types.contains(&ty), "no {} case", ty);
    }
    assert_eq!(cases.iter().filter(|c| c.args.get("padding").map(String::as_str) == Some("same")).count(), 2);
    let (mut checked, mut values, mut skipped) = (0, 0, Vec::new());
    for c in &cases {
        let ran = unsafe { run_module_or_loss(c) };
        if ran {
            checked += 1;
            values += c.tensors.values().map(|t| t.1.len()).sum::<usize>();
        } else {
            skipped.push(c.ty.clone());
        }
    }
    skipped.sort();
    skipped.dedup();
    assert_eq!(skipped, ["AutoEncoder", "Flatten", "Reshape", "Sequential"], "only views and containers are TS-only");
    println!("vectors.txt: {} of {} cases checked against the kernels ({} values)", checked, cases.len(), values);
}

unsafe fn run_module_or_loss(c: &Case) -> bool {
    if c.tensors.contains_key("target") { run_loss(c) } else { run_module(c) }
}
