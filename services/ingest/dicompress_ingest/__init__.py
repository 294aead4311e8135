"""The ingest service: turns an uploaded study (a ZIP or one DICOM file) into stored, indexed
instances, one event per archive member, under content-derived keys in the tenant's prefix."""
