"""A volume renderer: rays marched through a density grid from two views, each pixel summing
the densities it passes; the loss matches both images to targets, and the parameter is the
density grid.

Idioms: ``ray_march(field: ti.template(), angle: ti.f64, view_id: ti.i32)`` accumulating
``field[view_id, y, x] += contribution`` inside a loop over marching steps nested in the pixel
loop; an untyped boolean helper (``in_box``, a chain of ``and``); integer clamping with
``ti.max(0, ti.min(index, n - 1))``; an in-place vector rotation ``dir[0] = ...; dir[2] = ...``;
a plain ``@ti.kernel`` struct-for clearing the images; the loss accumulated over views.
"""

import math

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

res = 5
density_res = 6
n_views = 2
marching_steps = 16
step_size = 0.1
fov = 0.8
camera_radius = 1.0


def build(kernel, Tape):
    real = ti.f64
    r = rng("volume_renderer")
    density = ti.field(real, shape=(density_res, density_res, density_res), needs_grad=True)
    images = ti.field(real, shape=(n_views, res, res), needs_grad=True)
    target_images = ti.field(real, shape=(n_views, res, res))
    loss = ti.field(real, shape=(), needs_grad=True)
    density.from_numpy(r.uniform(0.0, 0.2, (density_res,) * 3))
    target_images.from_numpy(r.uniform(0.0, 0.5, (n_views, res, res)))

    @ti.func
    def in_box(x, y, z):
        return x >= -0.5 and x < 0.5 and y >= -0.5 and y < 0.5 and z >= -0.5 and z < 0.5

    @kernel
    def ray_march(field: ti.template(), angle: ti.f64, view_id: ti.i32):
        for pixel in range(res * res):
            for k in range(marching_steps):
                x = pixel // res
                y = pixel - x * res
                camera_origin = ti.Vector([camera_radius * ti.sin(angle), 0.0,
                                           camera_radius * ti.cos(angle)])
                dir = ti.Vector([fov * (ti.cast(x, real) / (res / 2.0) - 1.0),
                                 fov * (ti.cast(y, real) / (res / 2.0) - 1.0), -1.0])
                dir /= dir.norm()
                rotated_x = dir[0] * ti.cos(angle) + dir[2] * ti.sin(angle)
                rotated_z = -dir[0] * ti.sin(angle) + dir[2] * ti.cos(angle)
                dir[0] = rotated_x
                dir[2] = rotated_z
                point = camera_origin + (k + 1) * step_size * dir
                index_x = ti.cast(ti.floor((point[0] + 0.5) * density_res), ti.i32)
                index_y = ti.cast(ti.floor((point[1] + 0.5) * density_res), ti.i32)
                index_z = ti.cast(ti.floor((point[2] + 0.5) * density_res), ti.i32)
                index_x = ti.max(0, ti.min(index_x, density_res - 1))
                index_y = ti.max(0, ti.min(index_y, density_res - 1))
                index_z = ti.max(0, ti.min(index_z, density_res - 1))
                flag = 0
                if in_box(point[0], point[1], point[2]):
                    flag = 1
                contribution = density[index_z, index_y, index_x] * flag
                field[view_id, y, x] += contribution

    @kernel
    def compute_loss(view_id: ti.i32):
        for i in range(res):
            for j in range(res):
                loss[None] += (images[view_id, i, j] - target_images[view_id, i, j]) ** 2 * (
                    1.0 / (res * res))

    @ti.kernel
    def clear_images():
        for v, i, j in images:
            images[v, i, j] = 0

    def reset():
        clear_images()

    def run():
        for view in range(n_views):
            ray_march(images, math.pi / n_views * view - math.pi / 2.0 + 0.1, view)
            compute_loss(view)

    return Program(params=[density], loss=loss, run=run, outputs=[images], reset=reset)
