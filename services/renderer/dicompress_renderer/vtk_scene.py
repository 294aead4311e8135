"""The vtk side of a snapshot: one scene per volume, re-rendered per preset and size.

Imported only by the rendering process (`snapshot.render_volume`): the vtk wheel is large and
the thumbnails never need it. vtk ships stubs, but not for numpy_support: hence the narrow
ignores.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import vtkmodules.vtkRenderingOpenGL2  # OpenGL
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401
from vtkmodules.util.numpy_support import (
    numpy_to_vtk,
    vtk_to_numpy,
)
from vtkmodules.vtkCommonDataModel import (
    vtkImageData,
    vtkPiecewiseFunction,
)
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import (
    vtkColorTransferFunction,
    vtkRenderer,
    vtkRenderWindow,
    vtkVolume,
    vtkVolumeProperty,
    vtkWindowToImageFilter,
)
from vtkmodules.vtkRenderingVolume import (
    vtkFixedPointVolumeRayCastMapper,
)

from dicompress_renderer.presets import VolumePreset
from dicompress_renderer.snapshot import SnapshotInput

_MARGIN = 1.04  # a little background around the body


class Scene:
    """A volume in patient space seen from the front (anterior), superior up."""

    def __init__(self, data: SnapshotInput) -> None:
        slices, rows, columns = data.voxels.shape
        image = vtkImageData()
        image.SetDimensions(columns, rows, slices)
        image.SetSpacing(*data.spacing)
        image.SetOrigin(*data.origin)
        # vtk reads the numpy buffer in place (no copy of the volume): the scene keeps the
        # array alive as long as vtk may read it
        self.voxels = np.ascontiguousarray(data.voxels).ravel()
        scalars = numpy_to_vtk(self.voxels, deep=False)  # type: ignore[no-untyped-call]
        image.GetPointData().SetScalars(scalars)
        mapper = vtkFixedPointVolumeRayCastMapper()
        mapper.SetInputData(image)
        mapper.SetAutoAdjustSampleDistances(0)  # an interactive-only shortcut
        mapper.SetSampleDistance(data.sample_distance or float(min(data.spacing)))
        self.volume = vtkVolume()
        self.volume.SetMapper(mapper)
        matrix = vtkMatrix4x4()
        matrix.DeepCopy(data.matrix)
        self.volume.SetUserMatrix(matrix)
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        self.renderer.AddVolume(self.volume)
        self.window = vtkRenderWindow()
        self.window.SetOffScreenRendering(1)
        self.window.AddRenderer(self.renderer)
        self.data = data
        self.unit_distance = data.unit_distance or float(np.mean(data.spacing))

    def apply(self, preset: VolumePreset) -> None:
        prop = vtkVolumeProperty()
        opacity, gradient, color = (
            vtkPiecewiseFunction(),
            vtkPiecewiseFunction(),
            vtkColorTransferFunction(),
        )
        for value, alpha in preset.scalar_opacity:
            opacity.AddPoint(value, alpha)
        for value, alpha in preset.gradient_opacity:
            gradient.AddPoint(value, alpha)
        for value, r, g, b in preset.color:
            color.AddRGBPoint(value, r, g, b)
        prop.SetScalarOpacity(opacity)
        prop.SetGradientOpacity(gradient)
        prop.SetColor(color)
        prop.SetInterpolationTypeToLinear()
        prop.SetShade(1 if preset.shade else 0)
        prop.SetAmbient(preset.ambient)
        prop.SetDiffuse(preset.diffuse)
        prop.SetSpecular(preset.specular)
        prop.SetSpecularPower(preset.specular_power)
        prop.SetScalarOpacityUnitDistance(self.unit_distance)
        self.volume.SetProperty(prop)

    def render(self, size: int) -> npt.NDArray[np.uint8]:
        """RGB (rows, columns, 3), `size` on the long side, top row = superior."""
        # framed on the whole volume's extent in patient space, whatever part of it was sent
        x0, x1, y0, y1, z0, z1 = self.data.frame or self.data.bounds()
        width_mm, height_mm = max(x1 - x0, 1e-3), max(z1 - z0, 1e-3)
        width, height = self.data.frame_size(size)
        self.window.SetSize(width, height)
        centre = ((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2)
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*centre)
        camera.SetPosition(centre[0], centre[1] - 10.0 * max(width_mm, height_mm), centre[2])
        camera.SetViewUp(0.0, 0.0, 1.0)  # superior up; from anterior, patient's left on right
        camera.ParallelProjectionOn()
        camera.SetParallelScale(height_mm / 2.0 * _MARGIN)
        self.renderer.ResetCameraClippingRange()
        self.window.Render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(self.window)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.Update()
        output = grab.GetOutput()
        columns, rows, _ = output.GetDimensions()
        scalars = vtk_to_numpy(output.GetPointData().GetScalars())  # type: ignore[no-untyped-call]
        pixels = np.asarray(scalars, dtype=np.uint8).reshape(rows, columns, 3)
        flipped: npt.NDArray[np.uint8] = np.ascontiguousarray(pixels[::-1])  # vtk: bottom first
        return flipped
