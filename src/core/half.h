/* half.h - exact conversions between float32 and the 16-bit float formats (IEEE binary16, bfloat16).
   Widening is exact; narrowing rounds to nearest, ties to even; NaN stays NaN, overflow gives inf. */
#ifndef SEGC_CORE_HALF_H
#define SEGC_CORE_HALF_H

#include <stddef.h>
#include <stdint.h>

float segc_f16_to_f32(uint16_t h);
uint16_t segc_f32_to_f16(float f);
float segc_bf16_to_f32(uint16_t h);
uint16_t segc_f32_to_bf16(float f);

/* Bulk forms: n elements from src to dst (may not alias). */
void segc_f16_to_f32_array(const uint16_t *src, float *dst, size_t n);
void segc_bf16_to_f32_array(const uint16_t *src, float *dst, size_t n);
void segc_f32_to_f16_array(const float *src, uint16_t *dst, size_t n);
void segc_f32_to_bf16_array(const float *src, uint16_t *dst, size_t n);

#endif
