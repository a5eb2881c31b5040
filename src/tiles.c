/* tiles.c: tile grid geometry in latent units. */
#include "tiles.h"

static uint32_t round_up(uint32_t v, uint32_t multiple)
{
    return (v + multiple - 1) / multiple * multiple;
}

void tile_grid_init(TileGrid *g, uint32_t lh, uint32_t lw, uint32_t size, const TileNeeds *needs)
{
    uint32_t longest = lh > lw ? lh : lw;
    g->lh = lh;
    g->lw = lw;
    g->size = size == 0 || size > longest ? longest : round_up(size, needs->align);
    g->halo = round_up(needs->halo, needs->align);
    g->rows = (lh + g->size - 1) / g->size;
    g->cols = (lw + g->size - 1) / g->size;
}

static void tile_span(uint32_t index, uint32_t size, uint32_t halo, uint32_t extent, uint32_t *k0, uint32_t *k1,
                      uint32_t *h0, uint32_t *h1)
{
    *k0 = index * size;
    *k1 = *k0 + size < extent ? *k0 + size : extent;
    *h0 = *k0 > halo ? *k0 - halo : 0;
    *h1 = extent - *k1 > halo ? *k1 + halo : extent;
}

Tile tile_grid_at(const TileGrid *g, uint32_t i)
{
    Tile t;
    tile_span(i / g->cols, g->size, g->halo, g->lh, &t.y0, &t.y1, &t.hy0, &t.hy1);
    tile_span(i % g->cols, g->size, g->halo, g->lw, &t.x0, &t.x1, &t.hx0, &t.hx1);
    return t;
}
