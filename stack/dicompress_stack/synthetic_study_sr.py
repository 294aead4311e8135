"""A minimal X-Ray Radiation Dose SR (TID 10011, CT Radiation Dose) for a synthetic study.

Enough of the template for a reader to find the accumulated DLP and one CT Acquisition per
irradiation event (the scout and the spiral); not every optional row of the template.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import UID, XRayRadiationDoseSRStorage

from dicompress_stack.synthetic_study_captures import DoseEvent
from dicompress_stack.synthetic_study_ct import SeriesIds, StudyContext, base_dataset, ds_text

Concept = tuple[str, str, str]  # (value, scheme, meaning)


def _code(concept: Concept) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = concept
    return code


def _item(relationship: str, value_type: str, name: Concept) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [_code(name)]
    return item


def _container(relationship: str, name: Concept, children: list[Dataset]) -> Dataset:
    item = _item(relationship, "CONTAINER", name)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = children
    return item


def _coded(relationship: str, name: Concept, value: Concept) -> Dataset:
    item = _item(relationship, "CODE", name)
    item.ConceptCodeSequence = [_code(value)]
    return item


def _num(name: Concept, value: float, unit: Concept) -> Dataset:
    item = _item("CONTAINS", "NUM", name)
    measured = Dataset()
    measured.NumericValue = ds_text(value)
    measured.MeasurementUnitsCodeSequence = [_code(unit)]
    item.MeasuredValueSequence = [measured]
    return item


def _uidref(relationship: str, name: Concept, uid: str) -> Dataset:
    item = _item(relationship, "UIDREF", name)
    item.UID = uid
    return item


def _text(name: Concept, text: str) -> Dataset:
    item = _item("CONTAINS", "TEXT", name)
    item.TextValue = text
    return item


_MGY, _MGY_CM, _MM = ("mGy", "UCUM", "mGy"), ("mGy.cm", "UCUM", "mGy.cm"), ("mm", "UCUM", "mm")


def _acquisition(event: DoseEvent) -> Dataset:
    """TID 10013 CT Irradiation Event Data, the rows a reader needs."""
    source = _container(
        "CONTAINS",
        ("113831", "DCM", "CT X-Ray Source Parameters"),
        [
            _text(("113832", "DCM", "Identification of the X-Ray Source"), "A"),
            _num(("113733", "DCM", "KVP"), event.kvp, ("kV", "UCUM", "kV")),
            _num(("113833", "DCM", "Maximum X-Ray Tube Current"), event.ma, ("mA", "UCUM", "mA")),
            _num(("113734", "DCM", "X-Ray Tube Current"), event.ma, ("mA", "UCUM", "mA")),
        ],
    )
    parameters = _container(
        "CONTAINS",
        ("113822", "DCM", "CT Acquisition Parameters"),
        [
            _num(("113824", "DCM", "Exposure Time"), event.exposure_s, ("s", "UCUM", "s")),
            _num(("113825", "DCM", "Scanning Length"), event.length_mm, _MM),
            _num(("113826", "DCM", "Nominal Single Collimation Width"), 0.625, _MM),
            _num(("113827", "DCM", "Nominal Total Collimation Width"), 40.0, _MM),
            _num(
                ("113823", "DCM", "Number of X-Ray Sources"),
                1,
                ("{X-Ray sources}", "UCUM", "X-Ray sources"),
            ),
            source,
        ],
    )
    kind = (
        ("116152004", "SCT", "Spiral Acquisition")
        if event.spiral
        else ("113805", "DCM", "Constant Angle Acquisition")
    )
    rows = [
        _text(("125203", "DCM", "Acquisition Protocol"), event.protocol),
        _coded("CONTAINS", ("123014", "DCM", "Target Region"), ("51185008", "SCT", "Chest")),
        _coded("CONTAINS", ("113820", "DCM", "CT Acquisition Type"), kind),
        _uidref("CONTAINS", ("113769", "DCM", "Irradiation Event UID"), event.uid),
        parameters,
    ]
    if event.spiral:  # CT Dose is required for every acquisition but a constant-angle one
        dose = _container(
            "CONTAINS",
            ("113829", "DCM", "CT Dose"),
            [
                _num(("113830", "DCM", "Mean CTDIvol"), event.ctdivol_mgy, _MGY),
                _coded(
                    "CONTAINS",
                    ("113835", "DCM", "CTDIw Phantom Type"),
                    ("113691", "DCM", "IEC Body Dosimetry Phantom"),
                ),
                _num(("113838", "DCM", "DLP"), event.dlp_mgy_cm, _MGY_CM),
            ],
        )
        rows.append(dose)
    return _container("CONTAINS", ("113819", "DCM", "CT Acquisition"), rows)


def dose_report(
    ctx: StudyContext, ids: SeriesIds, sop_uid: UID, events: tuple[DoseEvent, ...]
) -> Dataset:
    """The dose SR: observer context, scope (this study), accumulated and per-event dose."""
    ds = base_dataset(ctx, XRayRadiationDoseSRStorage, sop_uid, ids, "SR", 1)
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.PerformedProcedureCodeSequence = []
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code(("113701", "DCM", "X-Ray Radiation Dose Report"))]
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "10011"
    ds.ContentTemplateSequence = [template]
    scope = _coded(
        "HAS OBS CONTEXT", ("113705", "DCM", "Scope of Accumulation"), ("113014", "DCM", "Study")
    )
    scope.ContentSequence = [
        _uidref("HAS PROPERTIES", ("110180", "DCM", "Study Instance UID"), ctx.study_uid)
    ]
    accumulated = _container(
        "CONTAINS",
        ("113811", "DCM", "CT Accumulated Dose Data"),
        [
            _num(
                ("113812", "DCM", "Total Number of Irradiation Events"),
                len(events),
                ("{events}", "UCUM", "events"),
            ),
            _num(
                ("113813", "DCM", "CT Dose Length Product Total"),
                sum(event.dlp_mgy_cm for event in events),
                _MGY_CM,
            ),
        ],
    )
    start, end = _datetime(ds, 0), _datetime(ds, 10)
    ds.ContentSequence = [
        _coded(
            "HAS CONCEPT MOD",
            ("121058", "DCM", "Procedure reported"),
            ("77477000", "SCT", "Computed Tomography X-Ray"),
        ),
        _coded("HAS OBS CONTEXT", ("121005", "DCM", "Observer Type"), ("121007", "DCM", "Device")),
        _uidref("HAS OBS CONTEXT", ("121012", "DCM", "Device Observer UID"), ids.uid),
        start,
        end,
        scope,
        accumulated,
        *(_acquisition(event) for event in events),
    ]
    return ds


def _datetime(ds: Dataset, minutes: int) -> Dataset:
    name = ("113809", "DCM", "Start of X-Ray Irradiation")
    if minutes:
        name = ("113810", "DCM", "End of X-Ray Irradiation")
    item = _item("CONTAINS", "DATETIME", name)
    item.DateTime = f"{ds.StudyDate}{int(ds.StudyTime[:2]):02d}{30 + minutes:02d}00"
    return item
