// The prelude of every generated optimizer's C++ kernels: the loop over the elements of a
// param group (one parallel region a step) and the few helpers the printed equations call.
// The build puts it before a module's rule kernels (hamopt.runtime.kernel).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define HAMOPT_AVX512 1
#elif defined(__AVX2__)
#include <immintrin.h>
#define HAMOPT_AVX2 1
#endif
#include <utility>
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
//
// align > 1: a range starts at a multiple of align elements of its tensor (each tensor counts as
// padded to a multiple of align), so that a block of align elements is one thread's.
template <typename Sweep, typename Finish>
void for_each_range_passes(int64_t n, const int64_t* numels, int passes, int64_t width,
                           const Sweep& sweep, const Finish& finish, int64_t align = 1) {
  auto padded = [&](int64_t i) { return (numels[i] + align - 1) / align * align; };
  int64_t total = 0;
  for (int64_t i = 0; i < n; i++) total += padded(i);
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), total / kGrain));
  std::vector<double> sums(threads * n * width, 0.0);  // thread t, tensor i: sums[(t * n + i) * width]
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t units = total / align;
    const int64_t first = units * t / nt * align, last = units * (t + 1) / nt * align;
    for (int pass = 1; pass <= passes; pass++) {
      int64_t offset = 0;
      for (int64_t i = 0; i < n && offset < last; offset += padded(i), i++) {
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
void for_each_range(int64_t n, const int64_t* numels, const Body& body, int64_t align = 1) {
  for_each_range_passes(n, numels, 1, 0,
      [&](int, int64_t i, int64_t begin, int64_t end, double*) { body(i, begin, end); },
      [](int, const double*, int64_t) {}, align);
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

// body(std::integral_constant<int, pass>()): the pass as a constant, so that each pass's sweep
// is compiled on its own (a sweep before the last computes no more than its reductions need)
template <typename Body, size_t... P>
void with_pass(int pass, const Body& body, std::index_sequence<P...>) {
  ((pass == int(P) + 1 ? body(std::integral_constant<int, int(P) + 1>()) : void()), ...);
}

// Sweeps pass = 1, ..., Passes of a rule with reductions: sweep(pass, zero, i, begin, end,
// sums), pass a std::integral_constant
template <int Passes, typename Sweep, typename Finish>
void each_range_passes(const Group& group, int64_t width, const Sweep& sweep, const Finish& finish) {
  for_each_range_passes(group.n, group.numels(), Passes, width,
      [&](int pass, int64_t i, int64_t begin, int64_t end, double* sums) {
        with_pass(pass, [&](auto p) {
          if (group.is_double(i)) sweep(p, 0.0, i, begin, end, sums); else sweep(p, 0.0f, i, begin, end, sums);
        }, std::make_index_sequence<Passes>());
      }, finish);
}

// -- a rule's buffers in fewer bytes (state_dtype; hamopt/runtime/state_storage.py) ----------
// Elements per block of the 8-bit format (one float32 maximum per block).
constexpr int64_t kInt8Block = 256;

inline uint32_t bits_of(float x) { uint32_t b; std::memcpy(&b, &x, 4); return b; }
inline float float_of(uint32_t b) { float x; std::memcpy(&x, &b, 4); return x; }

// 16 random bits for element k of a buffer whose key (a hash of seed, parameter, step and
// buffer) is key: (k ^ key) times 2^32/φ, the product's upper half (state_storage.random_bits)
inline uint32_t random_bits(uint32_t k, uint32_t key) { return ((k ^ key) * 0x9e3779b9u) >> 16; }

// The 32-bit integer hash lowbias32 (state_storage._mix)
inline uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  return x ^ (x >> 16);
}

// The random key of buffer j of the tensor at place `place` among the optimizer's parameters,
// at its step count `step` after this step (state_storage.keys, seed 0)
inline uint32_t buffer_key(uint64_t place, uint64_t step, int j) {
  const uint32_t tensor = mix(mix(0x9e3779b9u * uint32_t(place)) ^ uint32_t(step));
  return mix(tensor + 0x9e3779b9u * uint32_t(j + 1));
}

// float32 to bfloat16, its magnitude rounded up with probability (lower 16 bits) / 2^16: the
// random bits (< 2^16) added to the pattern, the upper half kept. ±Inf stays ±Inf, and so does
// every NaN arithmetic makes (quiet bit set; state_storage.round_stochastically).
inline uint16_t round_stochastically(float x, uint32_t random) { return uint16_t((bits_of(x) + random) >> 16); }

// What a format that stores each new value at once (in keep) shares: one column of the table,
// no alignment, a range one block, nothing kept to store at the block's end.
template <typename T> struct StoredAtOnce {
  static constexpr int kColumns = 1;
  static constexpr int64_t kAlign = 1;
  static constexpr int64_t kBlock = int64_t(1) << 30;  // offsets j within it: int32
  static constexpr int64_t kKept = 1;
  void begin(int64_t, int64_t) {}
  void store(const T*, int64_t, int64_t) const {}
};

// Buffer j (of buffers) of tensor i in its own type T, column 2 + j of the table: loaded and
// stored as it is (the default format).
template <typename T> struct PlainState : StoredAtOnce<T> {
  static constexpr bool kDouble = true;  // float64 tensors too
  T* __restrict data;
  PlainState(const Group& group, int j, int, int64_t i, const double*) : data(group.data<T>(2 + j, i)) {}
  T load(int64_t block, int32_t j) const { return data[block + j]; }
  void keep(T*, int64_t block, int32_t j, T x) const { data[block + j] = x; }
};

// One sweep of an elementwise rule whose buffers are in format State: update(zero, i, begin,
// end) in tensor i's type (zero: 0.0 or 0.0f; float only for a format that takes no float64),
// the ranges aligned to the format's blocks.
template <template <typename> class State, typename Update>
void each_range_as(const Group& group, const Update& update) {
  for_each_range(group.n, group.numels(), [&](int64_t i, int64_t begin, int64_t end) {
    if constexpr (State<double>::kDouble) {
      if (group.is_double(i)) return update(0.0, i, begin, end);
    }
    update(0.0f, i, begin, end);
  }, State<float>::kAlign);
}

// The fused step of an elementwise rule whose B buffers are kept in format State, over the
// param group of n tensors in table (Group; extra: the format's numbers): for each thread's
// range of tensor i, in its type T, element = tensor(zero, i) (zero: T(0)) is the rule's update
// of one element, element(param, grad, buffer_0, ..., buffer_B-1), which rewrites param and
// the buffers in place. Each range is walked a block of State::kBlock elements at a time, by
// the elements' 32-bit offsets j in the block (a 64-bit index would cost the vectorised loop
// the narrowing of its lanes, for bfloat16's random bits): its buffers loaded in T, the
// parameter stored, each buffer's new values kept by its format (stored at once, or when the
// 8-bit block is complete).
template <template <typename> class State, int B, typename Tensor, size_t... J>
void each_element_as(int64_t n, const int64_t* table, const double* extra, int maximize,
                     const Tensor& tensor, std::index_sequence<J...>) {
  const Group group(n, table, 2 + B * State<float>::kColumns);
  each_range_as<State>(group, [&](auto zero, int64_t i, int64_t begin, int64_t end) {
    using T = decltype(zero);
    const T sign = maximize ? T(-1) : T(1);
    T* __restrict param_data = group.data<T>(0, i);
    const T* __restrict grad_data = group.data<T>(1, i);
    std::array<State<T>, B> states{State<T>(group, J, B, i, extra)...};
    const auto element = tensor(zero, i);
    for (int64_t block = begin; block < end; block += State<T>::kBlock) {
      const int64_t last = std::min(end, block + State<T>::kBlock);
      (states[J].begin(block, last), ...);
      T next[B + 1][State<T>::kKept];
#pragma omp simd
      for (int32_t j = 0; j < int32_t(last - block); j++) {
        T param = param_data[block + j];
        T value[B + 1] = {states[J].load(block, j)...};
        element(param, sign * grad_data[block + j], value[J]...);
        param_data[block + j] = param;
        (states[J].keep(next[J], block, j, value[J]), ...);
      }
      (states[J].store(next[J], block, last), ...);
    }
  });
}
template <template <typename> class State, int B, typename Tensor>
void each_element_as(int64_t n, const int64_t* table, const double* extra, int maximize, const Tensor& tensor) {
  each_element_as<State, B>(n, table, extra, maximize, tensor, std::make_index_sequence<B>());
}

// The library's exports of rule R's kernel template step_R_as: its buffers in the parameter's
// type (step_R), in bfloat16 (step_R_bfloat16), in 8 bits (step_R_int8)
#define HAMOPT_EXPORT(R, FORMAT, STATE) extern "C" void step_##R##FORMAT(int64_t n, const int64_t* table, const double* numbers, int maximize) { step_##R##_as<STATE>(n, table, numbers, maximize); }
#define HAMOPT_FORMATS(R) HAMOPT_EXPORT(R, , PlainState) HAMOPT_EXPORT(R, _bfloat16, BFloat16State) HAMOPT_EXPORT(R, _int8, Int8State)

// Buffer j (of buffers) of tensor i in bfloat16: its values in column 2 + j of the table, its
// random key this step from the tensor's place extra[i] and step count extra[n + i].
template <typename T> struct BFloat16State : StoredAtOnce<T> {
  static constexpr bool kDouble = false;  // float32 tensors only
  uint16_t* __restrict data;
  uint32_t key;
  BFloat16State(const Group& group, int j, int buffers, int64_t i, const double* extra)
      : data(group.data<uint16_t>(2 + j, i)), key(buffer_key(uint64_t(extra[i]), uint64_t(extra[group.n + i]), j)) {}
  T load(int64_t block, int32_t j) const { return T(float_of(uint32_t(data[block + j]) << 16)); }
  // the new value x of element block + j (j: its offset in the block; its bits' index k, the
  // element's index modulo 2^32): stored at once
  void keep(T*, int64_t block, int32_t j, T x) const {
    data[block + j] = round_stochastically(float(x), random_bits(uint32_t(block) + uint32_t(j), key));
  }
};

// The bin of a float32 y with |y| <= 1 for the 8-bit format's code search: its sign, its
// binary exponent (those below 2^-30 as 2^-30's: no decision point lies within ±2^-29) and the
// upper 7 bits of its mantissa, so that at most one decision point lies inside a bin.
constexpr int kBins = 2 * 31 * 128;
inline int bin_of(float y) {
  const uint32_t b = bits_of(y);
  const int e = std::min(30, std::max(0, int((b >> 23) & 0xffu) - 97));
  return int(((b >> 31) * 31 + uint32_t(e)) * 128 + ((b >> 16) & 0x7fu));
}

// The 8-bit format's tables, [0] unsigned and [1] signed: the dynamic map, its decision points
// (the last +inf), and per bin (bin_of) how many decision points lie below the bin's lowest
// float32, where the search for a code starts (state_storage.py builds and checks the same).
// extra: the signed map, the unsigned map, the signed points, the unsigned points (256 each).
// tree: the 255 finite decision points in heap order (tree[1] the middle one, tree[2n] and
// tree[2n + 1] those below and above tree[n]'s: an in-order walk of nodes 1..255 meets them
// sorted), for the vectorised search (search256).
struct Int8Tables {
  alignas(64) float map[2][256];
  alignas(64) float middle[2][256];
  alignas(64) float tree[2][256];
  alignas(64) uint8_t planes[2][4][256];  // byte q of each value of map s: planes[s][q]
  int32_t first[2][kBins];
  int zero[2] = {0, 0};  // the code of the value 0
  // The arithmetic search (arithmetic_codes). Decade E = 0, ..., 6 of a map holds n_E =
  // 2^(6 - E) values (2^(7 - E) unsigned) 10^-E (g_i + g_i+1)/2 of the grid g_i = 0.1 + 0.9 i/n_E,
  // so the decision points inside it lie at the integer positions p = 1, ..., n_E - 1 of
  // p = |y| scale_E - offset_E (scale_E = 10^E n_E/0.9, offset_E = 0.1 n_E/0.9); limit_E =
  // n_E - 1/2 caps p above the decade's largest value; below_E counts the positive values of
  // the decades below E. Octave o (|y| in [2^-o, 2^(1-o)), o < 32) holds at most one decision
  // point between decades, threshold[o] (0: none), and the values above it lie in decade
  // upper[o]; last is the decision point between the largest mean and 1.
  alignas(64) float scale[2][16], offset[2][16], limit[2][16];
  alignas(64) int32_t below[2][16];
  // With AVX2 (arithmetic_codes8): bound[e], the decision point below decade e's smallest
  // value (e < 6), and start_E = 1 + below_E, the decision points below decade E's smallest.
  float bound[2][6];
  alignas(32) int32_t start[2][8] = {};
  alignas(64) float threshold[2][32];
  alignas(64) int32_t upper[2][32];
  float last[2];
  explicit Int8Tables(const double* extra) {
    for (int c = 0; c < 256; c++) {
      map[1][c] = float(extra[c]), map[0][c] = float(extra[256 + c]);
      middle[1][c] = float(extra[512 + c]), middle[0][c] = float(extra[768 + c]);
      if (map[1][c] == 0) zero[1] = c;
      if (map[0][c] == 0) zero[0] = c;
      for (int s = 0; s < 2; s++)
        for (int q = 0; q < 4; q++) planes[s][q][c] = uint8_t(bits_of(map[s][c]) >> (8 * q));
    }
    for (int s = 0; s < 2; s++) {
      int next = 0;
      tree[s][0] = 0;
      in_order(s, 1, next);
    }
    for (int s = 0; s < 2; s++) {
      int32_t count = 0;
      for (int e = 6; e >= 0; e--) {
        const double n = double(1 << ((s ? 6 : 7) - e));
        below[s][e] = count;
        start[s][e] = count + 1;
        if (e < 6) bound[s][e] = middle[s][zero[s] + count];
        scale[s][e] = float(std::pow(10.0, e) * n / 0.9);
        offset[s][e] = float(0.1 * n / 0.9);
        limit[s][e] = float(n - 0.5);
        count += int32_t(n);
      }
      last[s] = middle[s][254];
      for (int o = 0; o < 32; o++) {
        const float top = std::ldexp(1.0f, 1 - o), bottom = std::ldexp(1.0f, -o);
        threshold[s][o] = 0;
        upper[s][o] = 0;
        for (int e = 0; e < 6; e++) {
          upper[s][o] += bound[s][e] >= std::nextafter(top, 0.0f);
          if (bound[s][e] >= bottom && bound[s][e] < top) threshold[s][o] = bound[s][e];
        }
      }
    }
    for (int s = 0; s < 2; s++) {
      for (uint32_t h = 0; h < uint32_t(kBins); h++) {
        const uint32_t sign = h / (31 * 128), e = h / 128 % 31 + 97, m = h % 128;
        const uint32_t pattern = sign << 31 | e << 23 | m << 16 | (sign ? 0xffffu : 0u);
        const float lowest = float_of(pattern);
        first[s][h] = int32_t(std::lower_bound(middle[s], middle[s] + 255, lowest) - middle[s]);
      }
    }
  }
  void in_order(int s, int node, int& next) {
    if (node > 255) return;
    in_order(s, 2 * node, next);
    tree[s][node] = middle[s][next++];
    in_order(s, 2 * node + 1, next);
  }
};
inline const Int8Tables& int8_tables(const double* extra) {
  static const Int8Tables tables(extra);  // the maps are constants: built on the first call
  return tables;
}

#ifdef HAMOPT_AVX512
// t[j mod 32·2^B] for 16 indices j of a table t of 32·2^B floats in the 2^(B+1) registers r:
// 2^B two-register permutes (j's lower 5 bits), then halving blends by bits 5, ..., 4 + B of j
template <int B> inline __m512 lookup(const __m512* r, __m512i j) {
  __m512 p[1 << B];
  for (int q = 0; q < (1 << B); q++) p[q] = _mm512_permutex2var_ps(r[2 * q], j, r[2 * q + 1]);
  for (int b = 0; b < B; b++) {
    const __mmask16 bit = _mm512_test_epi32_mask(j, _mm512_set1_epi32(32 << b));
    for (int q = 0; q < (1 << (B - 1 - b)); q++) p[q] = _mm512_mask_blend_ps(bit, p[2 * q], p[2 * q + 1]);
  }
  return p[0];
}

// The number of decision points below each of 16 values y, by binary search in the heap
// ordered tree (Int8Tables::tree, in the 16 registers r): from node 1, eight times node ←
// 2·node + (y > tree[node]); the leaf reached, node − 256, is the count. Level d's nodes lie
// in [2^d, 2^(d+1)): levels 0-4 in r[0..1], 5 in r[2..3], 6 in r[4..7], 7 in r[8..15], each
// read by lookup on its registers (node's bits above the level's own are the level's offset).
// A NaN compares false throughout: 0, as the scalar search gives a NaN with its sign bit set;
// one without takes 255, as there.
inline __m512i search256(const __m512* r, __m512 y) {
  __m512i node = _mm512_set1_epi32(1);
  const __m512i one = _mm512_set1_epi32(1);
  for (int d = 0; d < 8; d++) {
    const __m512 probe = d < 5    ? lookup<0>(r, node)
                         : d == 5 ? lookup<0>(r + 2, node)
                         : d == 6 ? lookup<1>(r + 4, node)
                                  : lookup<2>(r + 8, node);
    const __mmask16 above = _mm512_cmp_ps_mask(y, probe, _CMP_GT_OQ);
    node = _mm512_mask_add_epi32(_mm512_add_epi32(node, node), above, _mm512_add_epi32(node, node), one);
  }
  const __mmask16 nan = _mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q);
  const __mmask16 negative = _mm512_movepi32_mask(_mm512_castps_si512(y));
  const __m512i count = _mm512_sub_epi32(node, _mm512_set1_epi32(256));
  return _mm512_mask_mov_epi32(count, nan & ~negative, _mm512_set1_epi32(255));
}

// The codes of 16 values y by arithmetic (Int8Tables' search constants of map s): |y|'s octave
// o gives its decade E (upper[o], one more where |y| <= threshold[o]); then k = floor(p) of p =
// min(|y| scale_E - offset_E, limit_E), clamped at 0, counts the decision points inside the
// decade below |y|, and the code is zero + 1 + below_E + k for y > 0 (255 above last),
// zero - 1 - below_E - k for y < 0 (the mirror image; 255 in the unsigned map, which has no
// value below 0: nearest 0, so 0 - 1), zero for ±0 (±1 about zero: a value that is not 0 is not
// stored as 0). Where p lies within 2^-10 of an integer (float32 rounding could put |y| on the
// wrong side of a point: p is good to about 10^-4), where |y| is a threshold (the count of the
// sides differs by sign) and where |y| >= 2 or NaN, the lane cannot be decided so: fallback.
inline __m512i arithmetic_codes(const Int8Tables& t, int s, __m512 y, __mmask16& fallback) {
  const __m512 a = _mm512_abs_ps(y);
  const __m512i o = _mm512_min_epi32(_mm512_set1_epi32(31), _mm512_max_epi32(_mm512_setzero_si512(),
      _mm512_sub_epi32(_mm512_set1_epi32(127), _mm512_srli_epi32(_mm512_castps_si512(a), 23))));
  const __m512 threshold = _mm512_permutex2var_ps(_mm512_load_ps(t.threshold[s]), o, _mm512_load_ps(t.threshold[s] + 16));
  __m512i e = _mm512_permutex2var_epi32(_mm512_load_si512(t.upper[s]), o, _mm512_load_si512(t.upper[s] + 16));
  e = _mm512_mask_add_epi32(e, _mm512_cmp_ps_mask(a, threshold, _CMP_LE_OQ), e, _mm512_set1_epi32(1));
  const __m512 p = _mm512_min_ps(
      _mm512_fmsub_ps(a, _mm512_permutexvar_ps(e, _mm512_load_ps(t.scale[s])), _mm512_permutexvar_ps(e, _mm512_load_ps(t.offset[s]))),
      _mm512_permutexvar_ps(e, _mm512_load_ps(t.limit[s])));
  const __m512 off = _mm512_abs_ps(_mm512_reduce_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));  // p - round(p)
  fallback = _mm512_cmp_ps_mask(off, _mm512_set1_ps(1.0f / 1024), _CMP_LT_OQ) |
             _mm512_cmp_ps_mask(a, threshold, _CMP_EQ_OQ) | _mm512_cmp_ps_mask(a, _mm512_set1_ps(2.0f), _CMP_NLT_UQ);
  const __m512i k = _mm512_add_epi32(_mm512_permutexvar_epi32(e, _mm512_load_si512(t.below[s])),
                                     _mm512_max_epi32(_mm512_cvttps_epi32(p), _mm512_setzero_si512()));
  __m512i up = _mm512_add_epi32(_mm512_set1_epi32(t.zero[s] + 1), k);
  up = _mm512_mask_mov_epi32(up, _mm512_cmp_ps_mask(y, _mm512_set1_ps(t.last[s]), _CMP_GT_OQ), _mm512_set1_epi32(255));
  const __m512i down = s ? _mm512_sub_epi32(_mm512_set1_epi32(t.zero[s] - 1), k) : _mm512_set1_epi32(255);
  const __m512i code = _mm512_mask_mov_epi32(_mm512_set1_epi32(t.zero[s]), _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), up);
  return _mm512_mask_mov_epi32(code, _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_LT_OQ), down);
}
#endif

#ifdef HAMOPT_AVX2
// The codes of 8 values y by arithmetic, as arithmetic_codes but with AVX2's 8-entry permutes:
// the decade E counts the bounds (Int8Tables::bound) at or above |y|, compared against |y| one
// ulp higher where y < 0 (its bits plus one), so that at a bound a negative y takes the value
// of larger magnitude, as the search does (the count below -|y| is the count above |y|). Then
// m = start_E + k (0 for y = ±0) and the code zero + sign(y)·m (255 above last; in the unsigned
// map, which has no value below 0, 255 for y < 0). fallback: a bit per lane that cannot be
// decided so (p within 2^-10 of an integer, |y| >= 2 or NaN).
inline __m256i arithmetic_codes8(const Int8Tables& t, int s, __m256 y, int& fallback) {
  const __m256i bits = _mm256_castps_si256(y);
  const __m256i magnitude = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
  const __m256 a = _mm256_castsi256_ps(magnitude);
  const __m256 nudged = _mm256_castsi256_ps(_mm256_add_epi32(magnitude, _mm256_srli_epi32(bits, 31)));
  __m256i e = _mm256_setzero_si256();
  for (int d = 0; d < 6; d++)
    e = _mm256_sub_epi32(e, _mm256_castps_si256(_mm256_cmp_ps(nudged, _mm256_set1_ps(t.bound[s][d]), _CMP_LE_OQ)));
  const __m256 product = _mm256_mul_ps(a, _mm256_permutevar8x32_ps(_mm256_load_ps(t.scale[s]), e));
  const __m256 p = _mm256_min_ps(_mm256_sub_ps(product, _mm256_permutevar8x32_ps(_mm256_load_ps(t.offset[s]), e)),
                                 _mm256_permutevar8x32_ps(_mm256_load_ps(t.limit[s]), e));
  const __m256 off = _mm256_andnot_ps(_mm256_set1_ps(-0.0f),
      _mm256_sub_ps(p, _mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));  // |p - round(p)|
  fallback = _mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(off, _mm256_set1_ps(1.0f / 1024), _CMP_LT_OQ),
                                             _mm256_cmp_ps(a, _mm256_set1_ps(2.0f), _CMP_NLT_UQ)));
  const __m256i nonzero = _mm256_castps_si256(_mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_GT_OQ));
  const __m256i m = _mm256_and_si256(nonzero, _mm256_add_epi32(_mm256_permutevar8x32_epi32(_mm256_load_si256(
      reinterpret_cast<const __m256i*>(t.start[s])), e), _mm256_max_epi32(_mm256_cvttps_epi32(p), _mm256_setzero_si256())));
  const __m256i top = _mm256_set1_epi32(255);
  __m256i code = _mm256_add_epi32(_mm256_set1_epi32(t.zero[s]), _mm256_sign_epi32(m, bits));
  code = _mm256_blendv_epi8(code, top, _mm256_castps_si256(_mm256_cmp_ps(y, _mm256_set1_ps(t.last[s]), _CMP_GT_OQ)));
  return s ? code : _mm256_blendv_epi8(code, top, _mm256_and_si256(nonzero, _mm256_srai_epi32(bits, 31)));
}
#endif

// y = x · inverse (inverse = 1/|a|, a its block's maximum), as quantise computes it: a value x
// that is not 0 but whose product underflows to 0 takes the smallest float32 of its sign (a
// value a block's maximum dwarfs by more than 2^149 is then not 0 to the code search, which
// may keep it from being stored as 0); x = ±inf, an overflow (then |a| = inf, and x · 0 would
// be NaN), is ±1 of its block
inline float scaled(float x, float inverse) {
  if (std::isinf(x)) return std::copysign(1.0f, x);
  const float y = x * inverse;
  return y == 0 && x != 0 ? std::copysign(0x1p-149f, x) : y;
}

// The code of one value y by the scalar search (encode): the nearest value's; where nonzero, a
// y that is not 0 but nearest to the map's 0 takes the nearest value of its sign instead
inline uint8_t searched_code(const Int8Tables& t, int s, float y, bool nonzero) {
  const int32_t c = t.first[s][bin_of(y)];
  const int32_t nearest = c + (y > t.middle[s][c]);
  const int zero = t.zero[s];
  return uint8_t(nonzero && nearest == zero && y != 0 ? zero + (y > 0 ? 1 : -1) : nearest);
}

// codes[k] for n values x[k]: the number of decision points below y = scaled(x[k], inverse)
// (tables: the format's, s: the map's index), the scalar search: where the bin of y puts it,
// plus one where the bin's one decision point lies below y (middle[255] is +inf); where
// nonzero, a y that is not 0 but nearest to the map's 0 (its code zero) takes the nearest value
// of its sign instead. With AVX-512 (and vectorised), 16 values at a time to the same codes: by
// arithmetic_codes, or by search256 for 16 values of which it cannot decide one. With AVX2, 32
// at a time by arithmetic_codes8, and the lanes it cannot decide by the scalar search. Both
// arithmetics give a y that is not 0 the code of its sign's nearest nonzero value; without
// nonzero, the values whose nearest is 0 (y in (middle[zero - 1], middle[zero]]) then take 0.
inline void encode(const float* __restrict x, uint8_t* __restrict codes, const Int8Tables& tables, int s,
                   float inverse, int64_t n, bool nonzero, bool vectorised = true) {
  int64_t k = 0;
  const int zero = tables.zero[s];
  const float above = tables.middle[s][zero];  // the decision points about 0
  const float below = zero > 0 ? tables.middle[s][zero - 1] : -INFINITY;
#ifdef HAMOPT_AVX512
  const int64_t vectors = vectorised ? n : 0;  // the elements the vector loop may take
  __m512 r[16];
  for (int q = 0; q < 16; q++) r[q] = _mm512_load_ps(tables.tree[s] + 16 * q);
  const __m512 scale = _mm512_set1_ps(inverse);
  const __m512i zeros = _mm512_set1_epi32(zero);
  const __m512i sign = _mm512_set1_epi32(int32_t(0x80000000u));
  for (; k + 16 <= vectors; k += 16) {
    const __m512 v = _mm512_loadu_ps(x + k);
    __m512 y = _mm512_mul_ps(v, scale);
    if (nonzero) {  // as scaled() (without nonzero an underflow to 0 gives the same code, 0)
      const __mmask16 under = _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_EQ_OQ) &
                              _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_OQ);
      y = _mm512_mask_mov_ps(y, under, _mm512_castsi512_ps(_mm512_or_si512(
          _mm512_and_si512(_mm512_castps_si512(v), sign), _mm512_set1_epi32(1))));
    }
    __mmask16 fallback;
    __m512i code = arithmetic_codes(tables, s, y, fallback);
    if (fallback) {
      const __m512i nearest = search256(r, y);
      const __mmask16 moved = nonzero ? _mm512_cmpeq_epi32_mask(nearest, zeros) & _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_NEQ_UQ) : 0;
      const __mmask16 up = _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ);
      const __m512i side = _mm512_mask_blend_epi32(up, _mm512_set1_epi32(-1), _mm512_set1_epi32(1));
      code = _mm512_mask_add_epi32(nearest, moved, zeros, side);
    }
    if (!nonzero)
      code = _mm512_mask_mov_epi32(code, _mm512_cmp_ps_mask(y, _mm512_set1_ps(below), _CMP_GT_OQ) &
                                             _mm512_cmp_ps_mask(y, _mm512_set1_ps(above), _CMP_LE_OQ), zeros);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + k), _mm512_cvtepi32_epi8(code));
  }
#endif
#ifdef HAMOPT_AVX2
  const int64_t vectors = vectorised ? n : 0;
  const __m256 scale = _mm256_set1_ps(inverse);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);  // the packs' 4-byte groups in order
  const __m256 sign = _mm256_set1_ps(-0.0f), least = _mm256_castsi256_ps(_mm256_set1_epi32(1));
  for (; k + 32 <= vectors; k += 32) {
    int fallback[4];
    __m256i code[4];
    for (int q = 0; q < 4; q++) {
      const __m256 v = _mm256_loadu_ps(x + k + 8 * q);
      __m256 y = _mm256_mul_ps(v, scale);
      if (nonzero) {  // as scaled() (without nonzero an underflow to 0 gives the same code, 0)
        const __m256 under = _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_EQ_OQ),
                                           _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_OQ));
        y = _mm256_blendv_ps(y, _mm256_or_ps(_mm256_and_ps(v, sign), least), under);
      }
      code[q] = arithmetic_codes8(tables, s, y, fallback[q]);
      if (!nonzero)
        code[q] = _mm256_blendv_epi8(code[q], _mm256_set1_epi32(zero), _mm256_castps_si256(_mm256_and_ps(
            _mm256_cmp_ps(y, _mm256_set1_ps(below), _CMP_GT_OQ), _mm256_cmp_ps(y, _mm256_set1_ps(above), _CMP_LE_OQ))));
    }
    const __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(code[0], code[1]), _mm256_packus_epi32(code[2], code[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + k), _mm256_permutevar8x32_epi32(bytes, order));
    if (fallback[0] | fallback[1] | fallback[2] | fallback[3]) {
      for (int l = 0; l < 32; l++)
        if (fallback[l / 8] >> (l % 8) & 1) codes[k + l] = searched_code(tables, s, scaled(x[k + l], inverse), nonzero);
    }
  }
#endif
  for (; k < n; k++) codes[k] = searched_code(tables, s, scaled(x[k], inverse), nonzero);
}

// values[k] = map[codes[k]] * scale for n codes of map s. With AVX512-VBMI, 64 at a time:
// each byte of the 64 values looked up in its plane (two 128-byte permutes, blended by bit 7
// of the code), the four bytes interleaved into 4 × 16 floats; the codes are first permuted so
// that the interleave, which works within 128-bit lanes, gives them in order. With AVX-512
// alone, 16 at a time by lookup<3>.
inline void decode(const uint8_t* __restrict codes, const Int8Tables& tables, int s, float scale,
                   float* __restrict values, int64_t n) {
  const float* map = tables.map[s];
  int64_t k = 0;
#if defined(HAMOPT_AVX512) && defined(__AVX512VBMI__)
  alignas(64) static const std::array<uint8_t, 64> order = [] {
    std::array<uint8_t, 64> o{};
    for (int p = 0; p < 64; p++) o[p] = uint8_t(16 * (p % 16 / 4) + 4 * (p / 16) + p % 4);
    return o;
  }();
  __m512i plane[4][4];
  for (int q = 0; q < 4; q++)
    for (int h = 0; h < 4; h++) plane[q][h] = _mm512_load_si512(tables.planes[s][q] + 64 * h);
  const __m512i arrange = _mm512_load_si512(order.data());
  const __m512 factor = _mm512_set1_ps(scale);
  for (; k + 64 <= n; k += 64) {
    const __m512i c = _mm512_permutexvar_epi8(arrange, _mm512_loadu_si512(codes + k));
    const __mmask64 high = _mm512_movepi8_mask(c);
    __m512i b[4];
    for (int q = 0; q < 4; q++)
      b[q] = _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(plane[q][0], c, plane[q][1]),
                                    _mm512_permutex2var_epi8(plane[q][2], c, plane[q][3]));
    const __m512i low01 = _mm512_unpacklo_epi8(b[0], b[1]), high01 = _mm512_unpackhi_epi8(b[0], b[1]);
    const __m512i low23 = _mm512_unpacklo_epi8(b[2], b[3]), high23 = _mm512_unpackhi_epi8(b[2], b[3]);
    const __m512i d[4] = {_mm512_unpacklo_epi16(low01, low23), _mm512_unpackhi_epi16(low01, low23),
                          _mm512_unpacklo_epi16(high01, high23), _mm512_unpackhi_epi16(high01, high23)};
    for (int j = 0; j < 4; j++) _mm512_storeu_ps(values + k + 16 * j, _mm512_mul_ps(_mm512_castsi512_ps(d[j]), factor));
  }
#endif
#ifdef HAMOPT_AVX512
  __m512 r[16];
  for (int q = 0; q < 16; q++) r[q] = _mm512_load_ps(map + 16 * q);
  const __m512 times = _mm512_set1_ps(scale);
  for (; k + 16 <= n; k += 16) {
    const __m512i j = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + k)));
    _mm512_storeu_ps(values + k, _mm512_mul_ps(lookup<3>(r, j), times));
  }
#endif
  for (; k < n; k++) values[k] = map[codes[k]] * scale;
}

// The 8-bit format's numbers after the rule's (extra): its tables' (Int8Tables), then one per
// buffer, whether it keeps every value that is not 0 from being stored as 0 (encode's nonzero).
constexpr int kInt8Numbers = 1024;

// Buffer j (of buffers) of tensor i in 8 bits: its codes in column 2 + j of the table, its
// blocks' signed maxima in column 2 + buffers + j (a < 0: the block uses the signed map).
template <typename T> struct Int8State {
  static constexpr bool kDouble = false;  // float32 tensors only
  static constexpr int kColumns = 2;
  static constexpr int64_t kAlign = kInt8Block;
  static constexpr int64_t kBlock = kInt8Block;
  static constexpr int64_t kKept = kInt8Block;  // a block's new values, until it is stored
  uint8_t* __restrict codes;
  float* __restrict maxima;
  const Int8Tables& tables;
  const bool nonzero;  // a value that is not 0 is never stored as 0 (Rule.nonzero: read as 0, it would step further)
  float values[kInt8Block];  // the block's values
  Int8State(const Group& group, int j, int buffers, int64_t i, const double* extra)
      : codes(group.data<uint8_t>(2 + j, i)), maxima(group.data<float>(2 + buffers + j, i)),
        tables(int8_tables(extra)), nonzero(extra[kInt8Numbers + j] != 0) {}
  // the block [block, last): its values q_c · |a|, looked up once, so that the loop over the
  // block reads them as it reads a float32 buffer
  void begin(int64_t block, int64_t last) {
    const float a = maxima[block / kInt8Block];
    if (std::isinf(a)) {  // a block holding ±inf (an overflow): the map's 0 is 0, not 0·inf = NaN
      const float* map = tables.map[a < 0];
      for (int64_t k = 0; k < last - block; k++) {
        const float q = map[codes[block + k]];
        values[k] = q == 0 ? 0.0f : q * INFINITY;
      }
      return;
    }
    decode(codes + block, tables, a < 0, std::fabs(a), values, last - block);
  }
  T load(int64_t, int32_t j) const { return T(values[j]); }
  // the new value x of element block + j: kept in next until the block is stored
  void keep(T* next, int64_t, int32_t j, T x) const { next[j] = x; }
  // block [begin, end), its float32 values next[0, end - begin): a = max |x|, then each code
  // the number of decision points below x · (1/a): where the lowest float32 with x · (1/a)'s
  // upper 16 bits puts it, plus one where the one decision point in between lies below
  void store(const T* next, int64_t begin, int64_t end) const {
    uint32_t largest = 0;  // max |x| as bits: the order of non-negative floats, NaN above all
    int negative = 0;
#pragma omp simd reduction(max : largest) reduction(| : negative)
    for (int64_t k = 0; k < end - begin; k++) {
      largest = std::max(largest, bits_of(next[k]) & 0x7fffffffu);
      negative |= next[k] < 0;
    }
    const float a = float_of(largest);
    if (std::isinf(a)) {  // an overflow: 1/a = 0, and the scalar search's scaled() reads ±inf
      encode(next, codes + begin, tables, negative, 0.0f, end - begin, nonzero, false);  // as ±1
    } else if (a > 0 && a < 0x1p-126f) {  // subnormal: 1/a overflows, so x and a are scaled by 2^64
      float shifted[kInt8Block];   // first (exactly), as quantise() does
      for (int64_t k = 0; k < end - begin; k++) shifted[k] = next[k] * 0x1p64f;
      encode(shifted, codes + begin, tables, negative, 1.0f / (a * 0x1p64f), end - begin, nonzero);
    } else {
      encode(next, codes + begin, tables, negative, 1.0f / (a > 0 ? a : 1.0f), end - begin, nonzero);
    }
    maxima[begin / kInt8Block] = negative ? -a : a;
  }
};

}  // namespace

// The 8-bit format's codes of n float32 values x · inverse in map s (1: the signed map; extra:
// the format's tables, as a kernel gets them), by the kernel's own search: vectorised where the
// build allows and vectorised = 1, else the scalar search (for tests of both); nonzero: as encode
extern "C" void int8_codes(int64_t n, const float* x, float inverse, int s, int nonzero, int vectorised,
                           const double* extra, uint8_t* codes) {
  encode(x, codes, int8_tables(extra), s, inverse, n, nonzero != 0, vectorised != 0);
}

// Whether every element of the n tensors of column c of a table is finite; table: their numels,
// whether each is float64 (else float32), then n data pointers per column (a Group's table, or
// a table of one column). An element is NaN or ±Inf exactly when all the bits of its exponent
// are set, that is when its magnitude's bits, read as an unsigned integer, are at least the
// exponent mask's: one read of every element, the largest magnitude's bits an integer max
// reduction (two instructions per vector, without a chain of float additions, so the sweep runs
// at memory speed), in one parallel region. Each thread's range of a tensor is read as kStreams
// equal parts side by side, then the elements past them: four streams keep more reads in flight
// than one, and the sweep takes about 0.7 of one stream's time (10M float32: 1.0 ms, not 1.4).
constexpr int64_t kStreams = 4;
static int column_finite(int64_t n, const int64_t* table, int c) {
  int finite = 1;
  auto sweep = [&](auto bits, int64_t i, int64_t begin, int64_t end) {
    using U = decltype(bits);
    const U exponent = sizeof(U) == 8 ? U(0x7ff0000000000000ull) : U(0x7f800000u);
    const U* __restrict x = reinterpret_cast<const U*>(table[(2 + c) * n + i]);
    const U magnitude = ~(U(1) << (8 * sizeof(U) - 1));
    U largest = 0;  // the largest magnitude's bits: as the magnitudes order, NaN above +Inf
    const int64_t part = (end - begin) / kStreams, rest = begin + kStreams * part;
#pragma omp simd reduction(max : largest)
    for (int64_t k = begin; k < begin + part; k++) {
      for (int64_t s = 0; s < kStreams; s++) largest = std::max(largest, U(x[k + s * part] & magnitude));
    }
    for (int64_t k = rest; k < end; k++) largest = std::max(largest, U(x[k] & magnitude));
    if (largest >= exponent) {
#pragma omp atomic write
      finite = 0;
    }
  };
  for_each_range(n, table, [&](int64_t i, int64_t begin, int64_t end) {
    if (table[n + i]) sweep(uint64_t(0), i, begin, end); else sweep(uint32_t(0), i, begin, end);
  });
  return finite;
}

// Whether every element of n tensors is finite (a table of one column: their data pointers).
extern "C" int all_finite(int64_t n, const int64_t* table) { return column_finite(n, table, 0); }

// A rule's step (step_<rule>) with the check of its gradients first, in the same call: where
// an element of one (column 1 of the group's table) is NaN or ±Inf, 0 and nothing written (not
// even the step counters); else the step, and 1.
using Step = void (*)(int64_t, const int64_t*, const double*, int);
extern "C" int checked_step(Step step, int64_t n, const int64_t* table, const double* numbers,
                            int maximize) {
  if (!column_finite(n, table, 1)) return 0;
  step(n, table, numbers, maximize);
  return 1;
}
