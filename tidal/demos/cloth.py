"""Cloth on a ball: a 3-D sheet of masses and springs falls onto a fixed ball and drapes over it,
seen through a camera that the arrow keys or a mouse drag turn.

Drives :class:`tidal.physics.MassSpring` (built from :func:`tidal.physics.cloth`, with its
``ball`` and ``floor``) frame by frame with
:meth:`~tidal.physics.simulator.Simulator.advance_live`. The stiffness and damping sliders set
the model's named parameters ``"stiffness"`` and ``"damping"``, which live in fields that every
run reloads, so they act on the running cloth without recompiling anything. The view is a
perspective projection drawn with the gallery's :class:`~tidal.demos.canvas.Canvas`: the
floor's grid, the cloth's structural springs coloured by stretch and shaded by depth, and the
ball as a lit disc, painted far to near. Turning the camera changes only the drawing, never the
simulation.
"""

from __future__ import annotations

import numpy as np

from tidal.demos.app import Demo, Inputs
from tidal.demos.canvas import ACCENT, GOLD, TEAL, TEXT, Canvas, hex_color
from tidal.demos.widgets import Button, Slider

BALL_COLOR = np.array(hex_color(0xC8D6E0), dtype=np.float32)
FLOOR_COLOR = np.array(hex_color(0x2E5A72), dtype=np.float32)
LIGHT = np.array([-0.45, 0.75, 0.5]) / np.linalg.norm([-0.45, 0.75, 0.5])
TURN = np.radians(3.0)  # radians per frame while an arrow key is held
STIFFNESS_RANGE = (300.0, 1e5)  # stable with dt = 1e-3 (omega^2 of the sheet ~ 10 k)


class Camera:
    """An orbiting perspective camera: looks at ``target`` from ``distance`` away at angle
    ``yaw`` about the vertical and ``pitch`` above the horizon.

    Example:
        >>> cam = Camera((0.0, 0.0, 0.0), distance=2.0, yaw=0.0, pitch=0.0)
        >>> screen, depth = cam.project(np.array([[0.0, 0.0, 0.0]]))
        >>> screen.tolist(), depth.tolist()
        ([[0.5, 0.5]], [2.0])
    """

    def __init__(self, target, distance: float = 2.3, yaw: float = 0.6, pitch: float = 0.42,
                 focal: float = 1.25):
        self.target = np.asarray(target, dtype=np.float64)
        self.distance, self.yaw, self.pitch, self.focal = distance, yaw, pitch, focal

    def turn(self, yaw: float = 0.0, pitch: float = 0.0) -> None:
        """Turn about the vertical by ``yaw`` and tilt by ``pitch`` (radians; the tilt stays
        between 5 degrees below the horizon and 85 above it)."""
        self.yaw = (self.yaw + yaw) % (2.0 * np.pi)
        self.pitch = float(np.clip(self.pitch + pitch, np.radians(-5.0), np.radians(85.0)))

    def basis(self):
        """The eye and its right, up and forward unit vectors."""
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        back = np.array([cp * np.sin(self.yaw), sp, cp * np.cos(self.yaw)])
        eye = self.target + self.distance * back
        forward = -back
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        return eye, right, up, forward

    def project(self, points):
        """Unit-square positions ``(n, 2)`` and depths ``(n,)`` of 3-D ``points``."""
        eye, right, up, forward = self.basis()
        d = np.asarray(points, dtype=np.float64) - eye
        depth = d @ forward
        z = np.maximum(depth, 1e-6)
        screen = np.stack([0.5 + self.focal * (d @ right) / z,
                           0.5 + self.focal * (d @ up) / z], axis=1)
        return screen, depth


def _structural(nx: int, ny: int) -> np.ndarray:
    """The grid's neighbour pairs (what the view draws of the cloth)."""
    index = np.arange(nx * ny).reshape(ny, nx)
    across = np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], axis=1)
    along = np.stack([index[:-1, :].ravel(), index[1:, :].ravel()], axis=1)
    return np.concatenate([across, along])


class ClothDemo(Demo):
    """Cloth falling on a ball (``python -m tidal.demos cloth``).

    Args:
        size: masses per side of the square sheet.
        spacing: distance between neighbouring masses (metres).
        substeps: simulation steps per displayed frame.
        dt: time step.
        stiffness: spring constant at the start.
        damping: velocity damping rate at the start.
        radius: the ball's radius.
        pinned: pin the sheet's two far corners (as :func:`tidal.physics.cloth` suggests)
            instead of letting it fall freely.
    """

    order = 20
    name = "cloth"
    title = "tidal: cloth on a ball"
    summary = "3-D mass-spring cloth drapes over a ball; arrows or mouse drag turn the camera"
    help = "arrows / LMB drag turn the camera  r reset  p pin corners"

    def __init__(self, size: int = 28, spacing: float = 0.05, substeps: int = 20,
                 dt: float = 1e-3, stiffness: float = 3e4, damping: float = 1.0,
                 radius: float = 0.3, pinned: bool = False):
        from tidal.physics import MassSpring, cloth

        positions, springs, corners = cloth(size, spacing=spacing, height=1.0)
        middle = positions.mean(axis=0)
        self.ball = (np.array([middle[0], 0.35, middle[2]]), float(radius))
        self.corners, self.pinned = corners, pinned
        self.sim = MassSpring(positions, springs, stiffness, steps=substeps, dt=dt,
                              damping=damping, ball=self.ball, floor=0.0,
                              anchored=corners if pinned else ())
        self.size = size
        self.edges = _structural(size, size)
        self.rest = np.linalg.norm(positions[self.edges[:, 1]] - positions[self.edges[:, 0]],
                                   axis=1)
        self.camera = Camera((middle[0], 0.4, middle[2]))
        self.positions = self.sim.get("x0")
        self.velocities = np.zeros_like(self.positions)
        self._last_cursor = None

    # -- controls ------------------------------------------------------------------------------
    def controls(self) -> list:
        return [
            Slider("stiffness", *STIFFNESS_RANGE, float(self.sim.get("stiffness")[0]),
                   self.set_stiffness, log=True),
            Slider("damping", 0.0, 10.0, float(self.sim.get("damping")), self.set_damping),
            Button("reset", self.reset),
            Button(lambda: "corners: pinned" if self.pinned else "corners: free", self.pin),
        ]

    def set_stiffness(self, value: float) -> None:
        self.sim.set("stiffness", value)

    def set_damping(self, value: float) -> None:
        self.sim.set("damping", value)

    def reset(self) -> None:
        """Start the fall again from the flat sheet."""
        self.sim.restart_live()
        self.positions = self.sim.get("x0")
        self.velocities = np.zeros_like(self.positions)

    def pin(self) -> None:
        """Pin or free the sheet's two far corners (from where they are now)."""
        self.pinned = not self.pinned
        self.sim.set_anchored(self.corners if self.pinned else [])

    def key(self, key: str) -> None:
        if key == "r":
            self.reset()
        elif key == "p":
            self.pin()

    # -- the loop ------------------------------------------------------------------------------
    def frame(self, inputs: Inputs) -> None:
        yaw = TURN * (("right" in inputs.held) - ("left" in inputs.held))
        pitch = TURN * (("up" in inputs.held) - ("down" in inputs.held))
        if "LMB" in inputs.held and inputs.cursor is not None:
            if self._last_cursor is not None:
                yaw -= 3.0 * (inputs.cursor[0] - self._last_cursor[0])
                pitch -= 2.0 * (inputs.cursor[1] - self._last_cursor[1])
            self._last_cursor = inputs.cursor
        else:
            self._last_cursor = None
        self.camera.turn(yaw, pitch)
        self.positions, self.velocities = self.sim.advance_live()

    def stretch(self) -> np.ndarray:
        """Length over rest length of every structural spring (what the colours show)."""
        x = self.positions
        return np.linalg.norm(x[self.edges[:, 1]] - x[self.edges[:, 0]], axis=1) / self.rest

    def draw(self, canvas: Canvas) -> None:
        cam = self.camera
        centre, radius = self.ball
        # the floor's grid, then everything behind the ball's centre, the ball, the rest
        lo, hi = cam.target[[0, 2]] - 1.6, cam.target[[0, 2]] + 1.6
        ticks = np.linspace(0.0, 1.0, 13)
        starts, ends = [], []
        for t in ticks:
            a, b = lo + t * (hi - lo), lo + t * (hi - lo)
            starts += [(a[0], 0.0, lo[1]), (lo[0], 0.0, b[1])]
            ends += [(a[0], 0.0, hi[1]), (hi[0], 0.0, b[1])]
        fs, fd = cam.project(np.array(starts))
        fe, fe_depth = cam.project(np.array(ends))
        seen = (fd > 0.05) & (fe_depth > 0.05)
        canvas.lines(fs[seen], fe[seen], FLOOR_COLOR, 1.0)

        screen, depth = cam.project(self.positions)
        a, b = self.edges[:, 0], self.edges[:, 1]
        mid = 0.5 * (depth[a] + depth[b])
        stretched = np.clip((self.stretch() - 1.0) / 0.1, 0.0, 1.0)[:, None]
        colors = np.where(stretched < 0.5,
                          np.asarray(TEAL) + 2.0 * stretched * (np.subtract(GOLD, TEAL)),
                          np.asarray(GOLD) + (2.0 * stretched - 1.0) * np.subtract(ACCENT, GOLD))
        near, far = depth.min(), depth.max()
        shade = 1.0 - 0.55 * (mid - near) / max(far - near, 1e-9)
        colors = (colors * shade[:, None]).astype(np.float32)
        order = np.argsort(-mid)
        (ball_xy,), (ball_depth,) = cam.project(centre[None])
        behind = order[mid[order] > ball_depth]
        front = order[mid[order] <= ball_depth]
        canvas.lines(screen[a[behind]], screen[b[behind]], colors[behind], 1.0)
        self._draw_ball(canvas, ball_xy, cam.focal * radius / ball_depth)
        canvas.lines(screen[a[front]], screen[b[front]], colors[front], 1.0)

        k = float(self.sim.get("stiffness")[0])
        c = float(self.sim.get("damping"))
        canvas.text(f"cloth {self.size}x{self.size} on a ball   k = {k:.3g}   c = {c:.3g}",
                    (0.02, 0.98), TEXT, 14)
        canvas.text(f"camera {np.degrees(cam.yaw):5.1f} deg", (0.02, 0.94), TEXT, 11)

    @staticmethod
    def _draw_ball(canvas: Canvas, centre, radius: float) -> None:
        """A lit sphere of ``radius`` (unit-square units) at ``centre``: Lambert shading
        from :data:`LIGHT` (in view space: right, up, towards the viewer)."""
        r_px = radius * canvas.width
        cols, rows = canvas.pixels(centre[None])
        span = np.arange(-int(r_px) - 1, int(r_px) + 2)
        dc, dr = np.meshgrid(span, span)
        u, w = dc / r_px, -dr / r_px
        inside = u * u + w * w <= 1.0
        u, w = u[inside], w[inside]
        normal = np.stack([u, w, np.sqrt(np.maximum(1.0 - u * u - w * w, 0.0))], axis=1)
        light = np.clip(normal @ LIGHT, 0.0, 1.0)
        shine = light ** 24
        colors = BALL_COLOR * (0.18 + 0.72 * light)[:, None] + 0.35 * shine[:, None]
        points = np.stack([(cols[0] + dc[inside] + 0.5) / canvas.width,
                           1.0 - (rows[0] + dr[inside] + 0.5) / canvas.height], axis=1)
        canvas.circles(points, 0.5, np.clip(colors, 0.0, 1.0).astype(np.float32))

    def status(self) -> str:
        return (f"{self.sim.n} masses  {self.sim.m} springs  {self.sim.window} steps  "
                f"stretch {100.0 * (self.stretch().max() - 1.0):.1f}%")

    def state(self) -> dict:
        """What tests check: positions and velocities of the masses (copies)."""
        return {"positions": self.positions.copy(), "velocities": self.velocities.copy()}
