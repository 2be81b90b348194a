/* crc32c.c - CRC-32C (Castagnoli), the checksum of a swap slot (model; no
 * system calls).
 *
 * Where the CPU has SSE4.2 (asked once, at run time), its crc32 instruction
 * does the work, eight bytes at a time. The instruction has a latency of
 * three cycles but issues one a cycle, so a block is cut in three streams
 * computed side by side, and the streams' CRCs are combined with "shift"
 * tables: the CRC register after n zero bytes is a linear function of the
 * register before, applied a byte at a time with four table lookups.
 * Where the CPU also has AVX-512 and VPCLMULQDQ, the bulk is folded
 * instead, 256 bytes a step (Intel's "Fast CRC Computation Using
 * PCLMULQDQ", four 512-bit lanes): a 128-bit piece of the message d bits
 * before its end weighs what its two halves times x^(d+32) and x^(d-32)
 * mod P (bit-reflected) weigh, carry-less; what is left, 16 bytes, goes
 * through the crc32 instruction. About three times as fast again: a page
 * checked in a major fault should cost little next to the fault.
 * Elsewhere, slicing-by-8 tables (eight bytes a step, one lookup a byte).
 *
 * pm_crc32c_init builds the tables; call it before the first checksum in
 * signal context (pagemu_open does). */
#include <stdint.h>
#include <string.h>

#include "model/model.h"

#define POLY  0x82F63B78u                /* CRC-32C, bit-reflected */
#define LONG  1360                       /* bytes per stream of a long block (3 x 1360 = 4080) */
#define SHORT 256                        /* bytes per stream of a short block */

static uint32_t table[8][256];           /* slicing-by-8: table[k][b] = b followed by k zero bytes */
static uint32_t shift_long[4][256];      /* the register after LONG zero bytes, by byte of the register */
static uint32_t shift_short[4][256];     /* the same after SHORT zero bytes */
static uint64_t fold_k[5][2];            /* folding constants, see fold_const */
static volatile int ready;               /* tables built */
static int hw;                           /* 1 = SSE4.2's crc32 instruction, 2 = and AVX-512 folding */
static int hw_max;                       /* what the CPU offers */

/* The register after n zero bytes, one byte at a time (init only). */
static uint32_t zeros_slow(uint32_t reg, size_t n)
{
	while (n--)
		reg = (reg >> 8) ^ table[0][reg & 0xff];
	return reg;
}

/* The operator "append n zero bytes" as four byte tables: linear in the
 * register, so each entry is the XOR of the images of its set bits. */
static void build_shift(uint32_t t[4][256], size_t n)
{
	uint32_t basis[32];

	for (int j = 0; j < 32; j++)
		basis[j] = zeros_slow(1u << j, n);
	for (int k = 0; k < 4; k++)
		for (int b = 0; b < 256; b++) {
			uint32_t v = 0;
			for (int i = 0; i < 8; i++)
				if (b >> i & 1)
					v ^= basis[8 * k + i];
			t[k][b] = v;
		}
}

static inline uint32_t shift(uint32_t t[4][256], uint32_t reg)
{
	return t[0][reg & 0xff] ^ t[1][reg >> 8 & 0xff] ^ t[2][reg >> 16 & 0xff] ^ t[3][reg >> 24];
}

/* x^n mod P, P = 0x11EDC6F41 in the usual bit order (init only). */
static uint32_t xpow_mod(unsigned n)
{
	uint64_t r = 1;

	while (n--) {
		r <<= 1;
		if (r >> 32)
			r ^= 0x11EDC6F41ULL;
	}
	return (uint32_t)r;
}

static uint32_t reflect32(uint32_t v)
{
	uint32_t r = 0;

	for (int i = 0; i < 32; i++)
		r |= (v >> i & 1) << (31 - i);
	return r;
}

/* The pair that folds a 128-bit piece over d bits: its low half (the
 * earlier bytes) times x^(d+32), its high half times x^(d-32). */
static void fold_const(uint64_t k[2], unsigned d)
{
	k[0] = (uint64_t)reflect32(xpow_mod(d + 32)) << 1;
	k[1] = (uint64_t)reflect32(xpow_mod(d - 32)) << 1;
}

void pm_crc32c_init(void)
{
	if (ready)
		return;
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][b] = c;
	}
	for (int k = 1; k < 8; k++)
		for (int b = 0; b < 256; b++)
			table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
	build_shift(shift_long, LONG);
	build_shift(shift_short, SHORT);
	fold_const(fold_k[0], 2048);             /* a lane over four registers of 512 bits */
	fold_const(fold_k[1], 512);              /* one register into the next */
	fold_const(fold_k[2], 384);              /* lanes 0, 1, 2 of the last register into lane 3 */
	fold_const(fold_k[3], 256);
	fold_const(fold_k[4], 128);
#if defined(__x86_64__)
	__builtin_cpu_init();
	hw = __builtin_cpu_supports("sse4.2") != 0;
	if (hw && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq"))
		hw = 2;
#endif
	hw_max = hw;
	ready = 1;
}

int pm_crc32c_hw(void)
{
	pm_crc32c_init();
	return hw;
}

int pm_crc32c_set_hw(int way)
{
	pm_crc32c_init();
	hw = way < hw_max ? (way < 0 ? 0 : way) : hw_max;
	return hw;
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* The register over len bytes, with the tables. */
static uint32_t reg_table(uint32_t reg, const unsigned char *p, size_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w = load64(p) ^ reg;
		reg = table[7][w & 0xff] ^ table[6][w >> 8 & 0xff] ^ table[5][w >> 16 & 0xff] ^
		      table[4][w >> 24 & 0xff] ^ table[3][w >> 32 & 0xff] ^ table[2][w >> 40 & 0xff] ^
		      table[1][w >> 48 & 0xff] ^ table[0][w >> 56];
	}
#endif
	while (len--)
		reg = (reg >> 8) ^ table[0][(reg ^ *p++) & 0xff];
	return reg;
}

#if defined(__x86_64__)
/* Blocks of 3 x n bytes (n a multiple of 8): three streams side by side,
 * then combined: reg(A B) = shift_|B|(reg(A)) ^ reg_from_0(B). */
#define THREE_STREAMS(n, t)                                                       \
	for (; len >= 3 * (n); p += 3 * (n), len -= 3 * (n)) {                    \
		uint64_t c0 = reg, c1 = 0, c2 = 0;                                \
		for (size_t i = 0; i < (n); i += 8) {                             \
			c0 = __builtin_ia32_crc32di(c0, load64(p + i));           \
			c1 = __builtin_ia32_crc32di(c1, load64(p + (n) + i));     \
			c2 = __builtin_ia32_crc32di(c2, load64(p + 2 * (n) + i)); \
		}                                                                 \
		reg = shift(t, (uint32_t)c0) ^ (uint32_t)c1;                      \
		reg = shift(t, reg) ^ (uint32_t)c2;                               \
	}

__attribute__((target("sse4.2")))
static uint32_t reg_hw(uint32_t reg, const unsigned char *p, size_t len)
{
	uint64_t c;

	for (; len && ((uintptr_t)p & 7); len--)
		reg = __builtin_ia32_crc32qi(reg, *p++);
	THREE_STREAMS(LONG, shift_long)
	THREE_STREAMS(SHORT, shift_short)
	for (c = reg; len >= 8; p += 8, len -= 8)
		c = __builtin_ia32_crc32di(c, load64(p));
	for (reg = (uint32_t)c; len; len--)
		reg = __builtin_ia32_crc32qi(reg, *p++);
	return reg;
}
#endif

typedef long long v8di __attribute__((vector_size(64)));

__attribute__((target("avx512f,vpclmulqdq")))
static v8di load512(const unsigned char *p)
{
	v8di v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Fold each 128-bit lane of x over the distance of k's constants. */
__attribute__((target("avx512f,vpclmulqdq")))
static v8di fold512(v8di x, v8di k)
{
	return __builtin_ia32_vpclmulqdq_v8di(x, k, 0x00) ^ __builtin_ia32_vpclmulqdq_v8di(x, k, 0x11);
}

__attribute__((target("avx512f,vpclmulqdq")))
static v8di broadcast(const uint64_t k[2])
{
	return (v8di){ (long long)k[0], (long long)k[1], (long long)k[0], (long long)k[1],
		       (long long)k[0], (long long)k[1], (long long)k[0], (long long)k[1] };
}

/* len >= 256: the register over the largest multiple of 256 bytes; *done
 * says how many. */
__attribute__((target("avx512f,vpclmulqdq,sse4.2")))
static uint32_t reg_fold(uint32_t reg, const unsigned char *p, size_t len, size_t *done)
{
	v8di x0 = load512(p), x1 = load512(p + 64), x2 = load512(p + 128), x3 = load512(p + 192);
	v8di k = broadcast(fold_k[0]), t;
	size_t n = len & ~(size_t)255;
	uint64_t lo, hi, c;

	x0[0] ^= reg;                            /* the register so far, into the first bytes */
	for (size_t i = 256; i < n; i += 256) {
		x0 = fold512(x0, k) ^ load512(p + i);
		x1 = fold512(x1, k) ^ load512(p + i + 64);
		x2 = fold512(x2, k) ^ load512(p + i + 128);
		x3 = fold512(x3, k) ^ load512(p + i + 192);
	}
	k = broadcast(fold_k[1]);
	x1 ^= fold512(x0, k);
	x2 ^= fold512(x1, k);
	x3 ^= fold512(x2, k);
	k = (v8di){ (long long)fold_k[2][0], (long long)fold_k[2][1], (long long)fold_k[3][0], (long long)fold_k[3][1],
		    (long long)fold_k[4][0], (long long)fold_k[4][1], 0, 0 };
	t = fold512(x3, k);
	lo = (uint64_t)(t[0] ^ t[2] ^ t[4] ^ x3[6]);
	hi = (uint64_t)(t[1] ^ t[3] ^ t[5] ^ x3[7]);
	c = __builtin_ia32_crc32di(__builtin_ia32_crc32di(0, lo), hi);
	*done = n;
	return (uint32_t)c;
}

uint32_t pm_crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (!ready)
		pm_crc32c_init();
#if defined(__x86_64__)
	if (hw == 2 && len >= 256) {
		size_t done;
		uint32_t reg = reg_fold(~crc, buf, len, &done);
		return ~reg_hw(reg, (const unsigned char *)buf + done, len - done);
	}
	if (hw)
		return ~reg_hw(~crc, buf, len);
#endif
	return ~reg_table(~crc, buf, len);
}

uint32_t pm_crc32c_table(uint32_t crc, const void *buf, size_t len)
{
	if (!ready)
		pm_crc32c_init();
	return ~reg_table(~crc, buf, len);
}
