// The prelude of every generated optimizer's C++ kernels: the loop over the elements of a
// param group (one parallel region a step) and the few helpers the printed equations call.
// The build puts it before a module's rule kernels (hamopt.runtime.kernel).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#include <omp.h>

namespace {

// Elements a thread takes at least: fewer and starting the thread costs more than it saves.
constexpr int64_t kGrain = 32768;

template <typename T> T square(T x) { return x * x; }
// torch.maximum / torch.minimum: a NaN in either argument is the result
template <typename T> T maximum(T a, T b) { return (a > b || a != a) ? a : b; }
template <typename T> T minimum(T a, T b) { return (a < b || a != a) ? a : b; }

// sweep(pass, i, begin, end, sums) on elements [begin, end) of tensor i, for the n tensors of
// numels[i] elements and pass = 1, ..., passes: the elements of all tensors are split into one
// contiguous range per thread (a range may span tensors), so a step is one parallel region
// however many tensors there are. A rule with reductions over a tensor (a norm, a sum) sweeps
// once per level of reductions, then once to update: a pass before the last adds this thread's
// partial reductions of tensor i into its row sums[k] (width of them), then one thread combines
// the rows of all threads (finish(pass, sums, threads)) while the others wait.
template <typename Sweep, typename Finish>
void for_each_range_passes(int64_t n, const int64_t* numels, int passes, int64_t width,
                           const Sweep& sweep, const Finish& finish) {
  int64_t total = 0;
  for (int64_t i = 0; i < n; i++) total += numels[i];
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), total / kGrain));
  std::vector<double> sums(threads * n * width, 0.0);  // thread t, tensor i: sums[(t * n + i) * width]
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t first = total * t / nt, last = total * (t + 1) / nt;
    for (int pass = 1; pass <= passes; pass++) {
      int64_t offset = 0;
      for (int64_t i = 0; i < n && offset < last; offset += numels[i], i++) {
        const int64_t begin = std::max(first, offset), end = std::min(last, offset + numels[i]);
        if (begin < end) sweep(pass, i, begin - offset, end - offset, sums.data() + (t * n + i) * width);
      }
      if (pass < passes) {
#pragma omp barrier
#pragma omp single
        finish(pass, sums.data(), nt);
      }
    }
  }
}

// One sweep: body(i, begin, end), for an elementwise rule.
template <typename Body>
void for_each_range(int64_t n, const int64_t* numels, const Body& body) {
  for_each_range_passes(n, numels, 1, 0,
      [&](int, int64_t i, int64_t begin, int64_t end, double*) { body(i, begin, end); },
      [](int, const double*, int64_t) {});
}

template <typename T> double squared(T x) { return double(x) * double(x); }
// reduction k of tensor i: the sum, or the largest, of the threads' rows
double total(const double* sums, int64_t threads, int64_t n, int64_t width, int64_t i, int64_t k) {
  double out = 0;
  for (int64_t t = 0; t < threads; t++) out += sums[(t * n + i) * width + k];
  return out;
}
double largest(const double* sums, int64_t threads, int64_t n, int64_t width, int64_t i, int64_t k) {
  double out = 0;
  for (int64_t t = 0; t < threads; t++) out = maximum<double>(out, sums[(t * n + i) * width + k]);
  return out;
}

// The table of one param group (hamopt.runtime.kernel): the numels of its n tensors, whether
// each is float64 (else float32), then n data pointers per column: the parameters, the
// gradients, each buffer of the rule, and the step counters, which the constructor counts
// (columns: the number of columns before them); last, whether the counters are float64.
struct Group {
  int64_t n;
  const int64_t* table;
  Group(int64_t n, const int64_t* table, int columns) : n(n), table(table) {
    const int64_t* steps = table + (2 + columns) * n;
    for (int64_t i = 0; i < n; i++) {
      if (steps[n]) *reinterpret_cast<double*>(steps[i]) += 1; else *reinterpret_cast<float*>(steps[i]) += 1;
    }
  }
  const int64_t* numels() const { return table; }
  bool is_double(int64_t i) const { return table[n + i] != 0; }
  // column c of tensor i: its data, as T
  template <typename T> T* data(int c, int64_t i) const { return reinterpret_cast<T*>(table[(2 + c) * n + i]); }
};

// One sweep of an elementwise rule: body(zero, i, begin, end) in tensor i's type (zero: 0.0 or 0.0f).
template <typename Body>
void each_range(const Group& group, const Body& body) {
  for_each_range(group.n, group.numels(), [&](int64_t i, int64_t begin, int64_t end) {
    if (group.is_double(i)) body(0.0, i, begin, end); else body(0.0f, i, begin, end);
  });
}

// Sweeps pass = 1, ..., passes of a rule with reductions: body(pass, zero, i, begin, end, sums).
template <typename Body, typename Finish>
void each_range_passes(const Group& group, int passes, int64_t width, const Body& body, const Finish& finish) {
  for_each_range_passes(group.n, group.numels(), passes, width,
      [&](int pass, int64_t i, int64_t begin, int64_t end, double* sums) {
        if (group.is_double(i)) body(pass, 0.0, i, begin, end, sums); else body(pass, 0.0f, i, begin, end, sums);
      }, finish);
}

}  // namespace

// Whether every element of n tensors is finite; table: their numels, whether each is float64
// (else float32), their data pointers. An element is NaN or ±Inf exactly when all the bits of its
// exponent are set: one read of every element as unsigned integers, the test OR-ed into one
// flag (a reduction without a chain of float additions, so the sweep runs at memory speed), in
// one parallel region.
extern "C" int all_finite(int64_t n, const int64_t* table) {
  int finite = 1;
  auto sweep = [&](auto bits, int64_t i, int64_t begin, int64_t end) {
    using U = decltype(bits);
    const U exponent = sizeof(U) == 8 ? U(0x7ff0000000000000ull) : U(0x7f800000u);
    const U* __restrict x = reinterpret_cast<const U*>(table[2 * n + i]);
    U bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t k = begin; k < end; k++) bad |= U((x[k] & exponent) == exponent);
    if (bad) {
#pragma omp atomic write
      finite = 0;
    }
  };
  for_each_range(n, table, [&](int64_t i, int64_t begin, int64_t end) {
    if (table[n + i]) sweep(uint64_t(0), i, begin, end); else sweep(uint32_t(0), i, begin, end);
  });
  return finite;
}
