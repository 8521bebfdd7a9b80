// cuda_matmul_mma.cu — y[b] = W x[b] for 1..CUDA_MMA_MAX f16 activation rows on tensor cores
// (mma.sync m16n8k16, f16 operands, f32 accumulation): the several-sequence decode step's
// products. Each weight unit is loaded once per call and dequantized to f16 in registers, where
// it is already in the A-fragment layout, so a step of up to 64 tokens reads the weights once
// instead of dequantizing the whole matrix to f16 in memory first (the cuBLAS path, cuda_gemm).
// Q4_0, Q8_0, Q4_K and Q6_K; other types get cudaErrorNotSupported and take cuda_gemm. The
// dequantizing is f16 arithmetic on code pairs (T::deqh: a byte permute, a subtract, a multiply or
// fma per two weights): Q4_0 and Q8_0 give exactly the f16 rounding of their values, as the
// GEMM's dequantize does; Q4_K and Q6_K round their scale products to f16 first (test_cuda_ops
// checks against a CPU emulation of that arithmetic). It replaced decoding to f32 and packing
// (seven instructions per two weights and 32 more registers): 7B Q4_K_M on one H100, x16 decode
// 2,353 / 2,473 tok/s against 2,284, x64 3,807 / 4,003 against 3,951 (2026-12-08).
//
// The K permutation: an m16n8k16 step gives lane (g = lane / 4, t = lane % 4) the A elements of
// rows g and g + 8 at k slots {2t, 2t+1, 2t+8, 2t+9}, and the B elements of column g at the same
// slots. A dot product does not care about the order of k, so slot set of lane t is mapped to 4
// consecutive columns of the weight unit lane t owns: in step s of a 32-column piece, slots
// 2t, 2t+1, 2t+8, 2t+9 are columns 4s..4s+3 of lane t's piece. A lane thus dequantizes whole
// pieces of its own unit (T::deqh) and needs no shuffles; B is read from shared memory with the
// same mapping (8 bytes per lane per step).
#include "cuda_weight_types.cuh"
#include "cuda_tuning.h"

#define MMA_WARPS 8

// Shared-memory layout of one chunk of activations: KC columns of each of the up to 8 NT tokens;
// a 32-column piece takes PW words (16 of data, padding after) and a token row P words. PW and
// P mod 32 are chosen so that the 16 lanes of a half-warp reading 8 bytes each in one B load
// (4 tokens x 4 pieces, pieces PPU apart) hit 32 distinct banks (checked by enumeration).
// LA (load-ahead, LMC_CUDA_MMA_LA=1): each lane's weight units are loaded one iteration before
// they are used and the next chunk's activations are copied (cp.async, two buffers) while this
// one is used; then one 16-row tile a warp and two blocks an SM (128 registers: no spills for
// Q4_0, Q8_0 and Q4_K up to 4 token tiles, 36 bytes for Q4_K at 8; ptxas -v), Q6_K (104-byte
// units) one block (205-255 registers).
// Without LA (the default, the kernel the CUDA suites have run): loads just before use, one
// activation buffer; MINB 0 leaves the registers to the compiler (as measured on the device).
template <class T, int NT, bool LA> struct mma_cfg {
    enum {
        PPU = T::UNIT / 32,
        KC = T::UNIT == 128 ? 512 : 256, // columns per chunk
        IT = KC / (4 * T::UNIT),         // warp iterations per chunk (4 lanes' units each)
        PW = PPU == 2 ? 20 : 18,
        NP = KC / 32,
        P_MOD = PPU == 1 ? 8 : 2,
        P = ((NP * PW - P_MOD + 31) / 32) * 32 + P_MOD,
        RW = LA ? 1 : (T::UNIT == 128 ? 1 : 2),
        MINB = LA ? (T::UNIT == 128 ? 1 : 2) : 0,
        BUFS = LA ? 2 : 1, // activation buffers
    };
};

__device__ __forceinline__ void cp_async8(void *smem, const void *gmem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(s), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void cp_async_wait_all() {
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

__device__ __forceinline__ void mma16816(float *c, uint32_t a0, uint32_t a1, uint32_t a2,
                                         uint32_t a3, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Chunk ch's activations of the n tokens into one buffer: synchronously (the caller's barriers
// around it) or as cp.async copies in one group (the caller waits for it).
template <class C, bool ASYNC>
__device__ __forceinline__ void mma_stage(const __half *__restrict__ x, int n, int64_t cols, int ch,
                                          uint32_t *xs) {
    const int per_row = C::KC / 4; // 8-byte pieces of a token's chunk
    for (int k = threadIdx.x; k < n * per_row; k += blockDim.x) {
        const int b = k / per_row, e = (k - b * per_row) * 4;
        const __half *src = x + (int64_t)b * cols + (int64_t)ch * C::KC + e;
        uint32_t *dst = xs + b * C::P + (e >> 5) * C::PW + ((e & 31) >> 1);
        if (ASYNC)
            cp_async8(dst, src);
        else
            *(uint2 *)dst = __ldg((const uint2 *)src);
    }
    if (ASYNC) cp_async_commit();
}

// One iteration's products: the warp's RW tiles of units qa (rows g) and qb (rows g + 8) with the
// nt token tiles of chunk buffer xs (iteration it of the chunk), added to acc.
template <class T, class C, int NT>
__device__ __forceinline__ void mma_iter(const typename T::raw (&qa)[C::RW],
                                         const typename T::raw (&qb)[C::RW], const uint32_t *xs,
                                         int it, int t, int g, int nt, float (&acc)[C::RW][NT][4]) {
#pragma unroll
    for (int r = 0; r < C::RW; r++) {
#pragma unroll
        for (int p = 0; p < C::PPU; p++) {
            uint32_t ha[16], hb[16];
            T::deqh(qa[r], p, ha);
            T::deqh(qb[r], p, hb);
            const uint32_t *xp = xs + ((it * 4 + t) * C::PPU + p) * C::PW + g * C::P;
#pragma unroll
            for (int s = 0; s < 8; s++) {
#pragma unroll
                for (int j = 0; j < NT; j++) {
                    if (j >= nt) break;
                    const uint2 bv = *(const uint2 *)(xp + 8 * j * C::P + 2 * s);
                    mma16816(acc[r][j], ha[2 * s], hb[2 * s], ha[2 * s + 1], hb[2 * s + 1], bv.x,
                             bv.y);
                }
            }
        }
    }
}

// Grid (row blocks, K splits); block of MMA_WARPS warps, warp w takes RW 16-row tiles. Split
// blockIdx.y covers chunks [y kchunks, (y+1) kchunks); with part, it writes its partial sums to
// part + y n rows (token-major), else y (stored or added). x: (n, cols) f16 contiguous.
// Iteration i covers units 4 i .. 4 i + 3 of the warp's rows (lane t: unit 4 i + t).
template <class T, int NT, bool LA>
__global__ void __launch_bounds__(MMA_WARPS * 32, mma_cfg<T, NT, LA>::MINB)
    k_matmul_mma(wparams w, const __half *__restrict__ x, int n, float *__restrict__ y, int64_t ldy,
                 int64_t rows, int add, float *__restrict__ part, int kchunks) {
    typedef mma_cfg<T, NT, LA> C;
    extern __shared__ uint2 xs2[];
    uint32_t *const xs0 = (uint32_t *)xs2;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int nt = (n + 7) >> 3;
    const int64_t row0 = ((int64_t)blockIdx.x * MMA_WARPS + warp) * (16 * C::RW);
    const int n_chunks = (int)(w.cols / C::KC);
    const int c_begin = blockIdx.y * kchunks;
    const int c_end = c_begin + kchunks < n_chunks ? c_begin + kchunks : n_chunks;
    const bool active = row0 < rows;
    float acc[C::RW][NT][4];
#pragma unroll
    for (int r = 0; r < C::RW; r++)
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int i = 0; i < 4; i++)
                acc[r][j][i] = 0.f;
    int64_t ra[C::RW], rb[C::RW];
#pragma unroll
    for (int r = 0; r < C::RW; r++) {
        ra[r] = row0 + 16 * r + g < rows ? row0 + 16 * r + g : rows - 1;
        rb[r] = row0 + 16 * r + g + 8 < rows ? row0 + 16 * r + g + 8 : rows - 1;
    }
    typename T::raw qa[C::RW], qb[C::RW];
    if (!LA) { // the first kernel: each chunk staged between barriers, units loaded before use
        for (int ch = c_begin; ch < c_end; ch++) {
            __syncthreads(); // the previous chunk is used up
            mma_stage<C, false>(x, n, w.cols, ch, xs0);
            __syncthreads();
            if (!active) continue;
#pragma unroll 1
            for (int it = 0; it < C::IT; it++) {
                const int u = ch * (C::KC / T::UNIT) + 4 * it + t;
#pragma unroll
                for (int r = 0; r < C::RW; r++) {
                    qa[r] = T::load(w, ra[r], u);
                    qb[r] = T::load(w, rb[r], u);
                }
                mma_iter<T, C, NT>(qa, qb, xs0, it, t, g, nt, acc);
            }
        }
    } else { // iteration i covers units 4 i .. 4 i + 3 of the rows (lane t: unit 4 i + t)
        const int i_begin = c_begin * C::IT, i_end = c_end * C::IT;
        if (i_begin < i_end) {
            mma_stage<C, true>(x, n, w.cols, c_begin, xs0);
            if (active) {
#pragma unroll
                for (int r = 0; r < C::RW; r++) {
                    qa[r] = T::load(w, ra[r], 4 * i_begin + t);
                    qb[r] = T::load(w, rb[r], 4 * i_begin + t);
                }
            }
        }
#pragma unroll 1
        for (int i = i_begin; i < i_end; i++) {
            const int ch = i / C::IT, it = i - ch * C::IT;
            const int words = 8 * NT * C::P; // one buffer
            if (it == 0) {
                cp_async_wait_all();
                __syncthreads(); // chunk ch is in; every warp is done with chunk ch - 1's buffer
                if (ch + 1 < c_end)
                    mma_stage<C, true>(x, n, w.cols, ch + 1,
                                       xs0 + ((ch + 1 - c_begin) & 1) * words);
            }
            if (!active) continue;
            // the next iteration's units (this one's again at the end: a cache hit)
            typename T::raw na[C::RW], nb[C::RW];
            const int un = 4 * (i + 1 < i_end ? i + 1 : i) + t;
#pragma unroll
            for (int r = 0; r < C::RW; r++) {
                na[r] = T::load(w, ra[r], un);
                nb[r] = T::load(w, rb[r], un);
            }
            mma_iter<T, C, NT>(qa, qb, xs0 + ((ch - c_begin) & 1) * words, it, t, g, nt, acc);
#pragma unroll
            for (int r = 0; r < C::RW; r++) {
                qa[r] = na[r];
                qb[r] = nb[r];
            }
        }
    }
    if (!active) return;
    float *out = part ? part + (int64_t)blockIdx.y * n * rows : y;
    const int64_t ld = part ? rows : ldy;
#pragma unroll
    for (int r = 0; r < C::RW; r++)
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int tok = 8 * j + 2 * t + (i & 1);
                const int64_t row = row0 + 16 * r + g + (i >> 1) * 8;
                if (tok < n && row < rows) {
                    float *o = out + (int64_t)tok * ld + row;
                    *o = (add && !part) ? *o + acc[r][j][i] : acc[r][j][i];
                }
            }
}

// y[b][r] (=|+=) sum over the splits of part[s][b][r].
__global__ void k_mma_reduce(const float *__restrict__ part, int splits, int n, int64_t rows,
                             float *__restrict__ y, int64_t ldy, int add) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n * rows) return;
    const int64_t b = i / rows, r = i - b * rows;
    float s = 0.f;
    for (int k = 0; k < splits; k++)
        s += part[(int64_t)k * n * rows + i];
    float *o = y + b * ldy + r;
    *o = add ? *o + s : s;
}

static int sm_count() {
    static thread_local int n = [] { // the GPU of this thread
        int dev = 0, v = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
            v = 0;
        return v > 0 ? v : 1;
    }();
    return n;
}

template <class T, int NT, bool LA>
static cudaError_t launch_nt(const wparams &p, const __half *x, int n, float *y, int64_t ldy,
                             int64_t rows, bool add, float *part, int64_t part_cap, int ksplit,
                             cudaStream_t s) {
    typedef mma_cfg<T, NT, LA> C;
    const size_t smem = (size_t)C::BUFS * 8 * NT * C::P * 4;
    // once per kernel and thread (the GPU current when it is set; a thread per tensor-parallel
    // rank)
    static thread_local const cudaError_t attr = cudaFuncSetAttribute(
        k_matmul_mma<T, NT, LA>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (attr != cudaSuccess) return attr;
    const int64_t per_block = (int64_t)MMA_WARPS * 16 * C::RW;
    const int64_t row_blocks = (rows + per_block - 1) / per_block;
    const int n_chunks = (int)(p.cols / C::KC);
    if (ksplit <= 0) { // about one wave of blocks (two an SM without LA), at most 8 splits
        const int64_t want = ((LA ? C::MINB : 2) * sm_count() + row_blocks - 1) / row_blocks;
        ksplit = (int)(want < 8 ? want : 8);
    }
    if (ksplit > n_chunks) ksplit = n_chunks;
    if (ksplit > 1 && (int64_t)ksplit * n * rows > part_cap)
        ksplit = (int)(part_cap / ((int64_t)n * rows));
    if (ksplit < 1 || !part) ksplit = 1;
    const int kchunks = (n_chunks + ksplit - 1) / ksplit;
    ksplit = (n_chunks + kchunks - 1) / kchunks;
    float *pp = ksplit > 1 ? part : NULL;
    k_matmul_mma<T, NT, LA>
        <<<dim3((unsigned)row_blocks, (unsigned)ksplit), MMA_WARPS * 32, smem, s>>>(
            p, x, n, y, ldy, rows, add, pp, kchunks);
    if (ksplit > 1) {
        const int64_t tot = (int64_t)n * rows;
        k_mma_reduce<<<(unsigned)((tot + 255) / 256), 256, 0, s>>>(part, ksplit, n, rows, y, ldy,
                                                                   add);
    }
    return cudaGetLastError();
}

template <class T, bool LA>
static cudaError_t launch_mma(const wparams &p, const __half *x, int n, float *y, int64_t ldy,
                              int64_t rows, bool add, float *part, int64_t part_cap, int ksplit,
                              cudaStream_t s) {
    if (n <= 8) return launch_nt<T, 1, LA>(p, x, n, y, ldy, rows, add, part, part_cap, ksplit, s);
    if (n <= 16) return launch_nt<T, 2, LA>(p, x, n, y, ldy, rows, add, part, part_cap, ksplit, s);
    if (n <= 32) return launch_nt<T, 4, LA>(p, x, n, y, ldy, rows, add, part, part_cap, ksplit, s);
    return launch_nt<T, 8, LA>(p, x, n, y, ldy, rows, add, part, part_cap, ksplit, s);
}

template <class T>
static cudaError_t launch_type(const cuda_weight &w, const __half *x, int n, float *y, int64_t ldy,
                               bool add, float *part, int64_t part_cap, int ksplit,
                               cudaStream_t s) {
    if (w.cols % mma_cfg<T, 1, true>::KC) return cudaErrorNotSupported;
    const wparams p = {w.q, w.d, w.cols};
    if (cuda_tuning_get()->mma_la)
        return launch_mma<T, true>(p, x, n, y, ldy, w.rows, add, part, part_cap, ksplit, s);
    return launch_mma<T, false>(p, x, n, y, ldy, w.rows, add, part, part_cap, ksplit, s);
}

cudaError_t cuda_matmul_mma(const cuda_weight &w, const __half *x16, int n, float *y, int64_t ldy,
                            bool add, float *part, int64_t part_cap, int ksplit, cudaStream_t s) {
    if (n < 1 || n > CUDA_MMA_MAX || is_anyf(w)) return cudaErrorNotSupported;
    switch (w.type) {
    case LMC_TYPE_Q4_0:
        return launch_type<t_q4_0>(w, x16, n, y, ldy, add, part, part_cap, ksplit, s);
    case LMC_TYPE_Q8_0:
        return launch_type<t_q8_0>(w, x16, n, y, ldy, add, part, part_cap, ksplit, s);
    case LMC_TYPE_Q4_K:
        return launch_type<t_q4_K>(w, x16, n, y, ldy, add, part, part_cap, ksplit, s);
    case LMC_TYPE_Q6_K:
        return launch_type<t_q6_K>(w, x16, n, y, ldy, add, part, part_cap, ksplit, s);
    default:
        return cudaErrorNotSupported;
    }
}
