"""The preview product: a derived series binned k x k in-plane and m along Z, encoded lossy.

`plan` groups the series' slices (anatomical order, from the compressor's layout), `binning`
averages stored values, `geometry` moves the planes, `dataset` builds the derived DICOM object
and `encode` runs all of it for one output slice inside a pool process; `runner` is the job.
"""
