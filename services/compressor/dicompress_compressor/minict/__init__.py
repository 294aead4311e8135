"""The Mini CT product: a region of a series (a slice range, a pixel box, in-plane
downsampling) as a derived series in a ZIP or as one multi-frame object.

It is the preview's machinery with a crop (`preview.plan` takes the slice range,
`preview.geometry` the box's offset, `preview.encode` makes every slice); `region` checks the
request against the series, `multiframe` joins the encoded frames into a Legacy Converted
Enhanced image, `output` names what is stored and `runner` is the job.
"""
