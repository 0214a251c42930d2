//! Helpers shared by the in-file kernel tests: NaN canaries and float64 comparisons.

/// The sizes that hit every SIMD tail (0, below one vector, one vector, around 16, odd large).
pub const SIZES: &[usize] = &[0, 1, 3, 4, 5, 15, 16, 17, 63];

/// Guard elements on each side of an output; they must still be NaN after the kernel runs.
pub const GUARD: usize = 8;

/// An output buffer with NaN guards around it, to catch writes outside `[0, n)`.
pub struct Canary {
    buf: Vec<f32>,
    n: usize,
}

impl Canary {
    /// `n` elements initialised by `f`, between NaN guards.
    pub fn new(n: usize, f: impl Fn(usize) -> f32) -> Self {
        let mut buf = vec![f32::NAN; n + 2 * GUARD];
        for i in 0..n {
            buf[GUARD + i] = f(i);
        }
        Canary { buf, n }
    }
    /// `n` NaN elements (for `[out]` buffers, which must be overwritten whole).
    pub fn nan(n: usize) -> Self {
        Canary::new(n, |_| f32::NAN)
    }
    /// `n` zeros (for `[in,out]` accumulators).
    pub fn zeros(n: usize) -> Self {
        Canary::new(n, |_| 0.0)
    }
    /// Pointer to element 0.
    pub fn ptr(&mut self) -> *mut f32 {
        unsafe { self.buf.as_mut_ptr().add(GUARD) }
    }
    /// Element `i`.
    pub fn get(&self, i: usize) -> f32 {
        self.buf[GUARD + i]
    }
    /// The `n` elements.
    pub fn vec(&self) -> Vec<f32> {
        self.buf[GUARD..GUARD + self.n].to_vec()
    }
    /// Panics if a guard was written or an element is left NaN.
    pub fn check_guards(&self) {
        for i in 0..GUARD {
            assert!(self.buf[i].is_nan(), "guard before the output was written at -{}", GUARD - i);
            assert!(self.buf[GUARD + self.n + i].is_nan(), "guard after the output was written at +{}", i);
        }
    }
    /// `check_guards`, and every element of the output is not NaN (it was overwritten whole).
    pub fn check_written(&self) {
        self.check_guards();
        for i in 0..self.n {
            assert!(!self.get(i).is_nan(), "output element {} was not written", i);
        }
    }
}

/// Deterministic pseudo-random values in [-1, 1) (xorshift32), for test inputs.
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// Asserts `|got - want| <= atol + rtol * |want|` element-wise, naming the first failure.
pub fn assert_close(got: &[f32], want: &[f64], atol: f64, rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{}: length", what);
    for i in 0..got.len() {
        let (g, w) = (got[i] as f64, want[i]);
        let ok = (g - w).abs() <= atol + rtol * w.abs();
        assert!(ok, "{}: element {}: got {}, want {} (atol {}, rtol {})", what, i, g, w, atol, rtol);
    }
}
