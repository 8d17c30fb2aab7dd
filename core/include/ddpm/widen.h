#pragma once
// A model grown to twice its width that computes the same function (Net2WiderNet, Chen et al.
// 2016): more capacity that starts from what the model already draws, to train on from there
// instead of from noise.
//
// Every feature channel c becomes the pair (2c, 2c + 1) carrying the same value: a layer's
// output rows are duplicated and its weight on an input channel is split over the pair's two
// copies as (1/2 + u, 1/2 - u), u drawn uniformly from [-1/4, 1/4] per weight. The split sums to
// the original weight, so the output is unchanged, and it differs between the copies, so their
// gradients differ and training separates them (an even split would keep every pair identical
// forever). Norms see the same statistics (a pair holds two equal values, and each group of
// GroupNorm(G, 2C) holds the copies of its group of GroupNorm(G, C)), and a head of attention
// keeps its channels together (queries are scaled by 1/sqrt(2) for the head width's doubled
// 1/sqrt(d) and the doubled dot product). The time and class embeddings keep their width.
#include <cstdint>

#include "ddpm/model_file.h"

namespace ddpm {

// The widened model: base_channels doubled, preset "<preset>-w<width>", the same description
// otherwise (classes, schedule, steps trained). Throws ddpm::Error when the result would exceed
// the architecture's limits.
Model widen_model(const Model& model, uint64_t seed);

}  // namespace ddpm
