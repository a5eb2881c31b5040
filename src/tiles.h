/* tiles.h: the latent-space tile grid the transforms run on, so that memory is bounded by a tile.
 *
 * Each tile computes its kept latents plus a halo of extra latents at every side that is not an
 * image edge, and throws the halo away. With a halo at least the networks' edge reach (see
 * network_edge_reach), every kept value is computed from exactly the inputs the whole image would
 * give it, in the same order: tiled and whole-image results are bit-identical. */
#ifndef AECIMG_TILES_H
#define AECIMG_TILES_H

#include <stdint.h>

/* What a network asks of the tiles it runs on, in latents: the halo (its edge reach), and what tile
 * origins must be multiples of (network_alignment). */
typedef struct TileNeeds {
    uint32_t halo, align;
} TileNeeds;

typedef struct TileGrid {
    uint32_t lh, lw;     /* latent size of the image */
    uint32_t size;       /* kept latents per tile side */
    uint32_t halo;       /* latents added at each inner side */
    uint32_t rows, cols; /* tiles down and across */
} TileGrid;

typedef struct Tile {
    uint32_t y0, y1, x0, x1;     /* the latents the tile keeps: [y0, y1) x [x0, x1) */
    uint32_t hy0, hy1, hx0, hx1; /* the latents it computes: kept plus halo, clipped to the image */
} Tile;

/* A grid over lh x lw latents of tiles of size x size latents (0: one tile for the whole image), the
 * size and the halo rounded up to multiples of needs->align. */
void tile_grid_init(TileGrid *g, uint32_t lh, uint32_t lw, uint32_t size, const TileNeeds *needs);
static inline uint32_t tile_grid_count(const TileGrid *g)
{
    return g->rows * g->cols;
}
/* Tile i (0 <= i < count) in row-major order. */
Tile tile_grid_at(const TileGrid *g, uint32_t i);

#endif
