"""NSD's layout: its bucket, the paths of its files in NSD's own folder layout, its subjects, sessions and regions
(with the ROI label tables they are built from), our store's folder and stimulus ids, and the checks of what a
request may ask for (subjects, sessions, regions, images), each a ConfigError naming what NSD has."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from brainbench.data.downloads import RemoteFile
from brainbench.errors import ConfigError

BUCKET = "https://natural-scenes-dataset.s3.amazonaws.com"
FOLDER = "nsd"  # NSD's layout under <data home>/datasets/nsd (and <mirror>/nsd), our store in nsd/brainbench
EXPDESIGN = "nsddata/experiments/nsd/nsd_expdesign.mat"
STIM_INFO = "nsddata/experiments/nsd/nsd_stim_info_merged.csv"
STIM_INFO_TYPES = {"nsdId": "int", "cocoId": "int", "shared1000": "bool"}  # the columns read as numbers; the rest text
STORE_TYPES = {"nsd_id": "int", "coco_id": "int", "shared1000": "bool"}  # in the store's stimuli.csv
STIMULI_HDF5 = "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
SHARED_PNGS = "nsddata/stimuli/nsd/shared1000"
N_IMAGES = 73000  # nsdIds 0..72999
IMAGE_READERS = 8  # Range requests in flight at once when images are read out of the bucket's stimulus HDF5
SESSIONS = {1: 40, 2: 40, 3: 32, 4: 30, 5: 40, 6: 32, 7: 40, 8: 30}
ROI_LABELS = {  # NSD's label tables (values of the func1pt8mm ROI volumes)
    "prf-visualrois": {1: "V1v", 2: "V1d", 3: "V2v", 4: "V2d", 5: "V3v", 6: "V3d", 7: "hV4"},
    "floc-faces": {1: "OFA", 2: "FFA-1", 3: "FFA-2", 4: "mTL-faces", 5: "aTL-faces"},
    "floc-bodies": {1: "EBA", 2: "FBA-1", 3: "FBA-2", 4: "mTL-bodies"},
    "floc-places": {1: "OPA", 2: "PPA", 3: "RSC"},
    "floc-words": {1: "OWFA", 2: "VWFA-1", 3: "VWFA-2", 4: "mfs-words", 5: "mTL-words"},
    "streams": {1: "early", 2: "midventral", 3: "midlateral", 4: "midparietal", 5: "ventral", 6: "lateral", 7: "parietal"},
    "nsdgeneral": {1: "nsdgeneral"},  # NSD's visually responsive cortex mask (0 outside, -1 outside the brain)
}
FLOC = ("OFA", "FFA-1", "FFA-2", "EBA", "FBA-1", "FBA-2", "OPA", "PPA", "OWFA", "VWFA-1", "VWFA-2")
REGIONS = {"V1": ("V1v", "V1d"), "V2": ("V2v", "V2d"), "V3": ("V3v", "V3d"), "V4": ("hV4",),
           "EVC": ("V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"), **{r: (r,) for r in FLOC}, "OTC": (),
           "nsdgeneral": ("nsdgeneral",)}
OTC_STREAMS, OTC_MIN_NCSNR = ("ventral", "midventral", "lateral", "midlateral"), 0.2
SCALE = 300.0  # betas are stored as int16 percent signal change x 300
TERMS = """The Natural Scenes Dataset is shared under the NSD Terms and Conditions
(https://cvnlab.slite.page/p/IB6BSeW_7o/Terms-and-Conditions): you must have completed NSD's Data Access
Agreement (https://forms.gle/xue2bCdM9LaFNMeb7), and you agree to cite Allen et al. (2022), Nature
Neuroscience 25:116-126, in work that uses it. brainbench downloads only the files named in its docs."""
CITATION = ("Allen, E. J., St-Yves, G., Wu, Y., Breedlove, J. L., Prince, J. S., Dowdle, L. T., Nau, M., Caron, B., "
            "Pestilli, F., Charest, I., Hutchinson, J. B., Naselaris, T., & Kay, K. (2022). A massive 7T fMRI dataset to "
            "bridge cognitive neuroscience and artificial intelligence. Nature Neuroscience, 25(1), 116-126.")
SHARED1000 = RemoteFile(  # COCO captions and categories of the shared images (DeepNSD, Conwell et al.)
    "shared1000.csv",
    "https://github.com/ColinConwell/DeepNSD/raw/main/source_code/pressures/brain_data/image_sets/shared1000.csv",
    sha256="b32929c60167ff219b07afd4140377d56029d5d7837b2fa9fdd2a920d8f2b51c",
)


def _subject_dir(subject: int) -> str:
    return f"subj{subject:02d}"


def betas_path(subject: int, session: int) -> str:
    return (f"nsddata_betas/ppdata/{_subject_dir(subject)}/func1pt8mm/betas_fithrf_GLMdenoise_RR/"
            f"betas_session{session:02d}.hdf5")


def ncsnr_path(subject: int) -> str:
    return f"nsddata_betas/ppdata/{_subject_dir(subject)}/func1pt8mm/betas_fithrf_GLMdenoise_RR/ncsnr.nii.gz"


def roi_path(subject: int, roi: str) -> str:
    return f"nsddata/ppdata/{_subject_dir(subject)}/func1pt8mm/roi/{roi}.nii.gz"


def ctab_path(subject: int, roi: str) -> str:
    return f"nsddata/freesurfer/{_subject_dir(subject)}/label/{roi}.mgz.ctab"


def store_dir() -> Path:
    from brainbench.data.downloads import dataset_dir

    return dataset_dir(FOLDER) / "brainbench"


def stimulus_id(nsd_id: int) -> str:
    return f"nsd{int(nsd_id):05d}"


def _subjects(subjects: Sequence[int] | None) -> list[int]:
    """The chosen subjects as ints (all 8 by default); one NSD does not have is a ConfigError."""
    try:
        chosen = [int(s) for s in (subjects or SESSIONS)]
    except (TypeError, ValueError):
        raise ConfigError(f"NSD subjects are numbers 1-8; got {list(subjects or [])!r}") from None
    bad = [s for s in chosen if s not in SESSIONS]
    if bad:
        raise ConfigError(f"NSD has subjects 1-8; got {bad}")
    return chosen


def _check_sessions(subjects: Sequence[int], sessions: Sequence[int] | None) -> None:
    """Every chosen session must exist for every chosen subject (NSD's subjects had 30 to 40 sessions)."""
    for subject in subjects:
        bad = [s for s in sessions or ()
               if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= SESSIONS[subject]]
        if bad:
            raise ConfigError(f"NSD subject {subject} has sessions 1-{SESSIONS[subject]}; got {bad}")


def _check_images(images: str) -> None:
    if images not in ("shared1000", "all"):
        raise ConfigError(f"images must be 'shared1000' or 'all'; got {images!r}")


def _check_regions(regions: Sequence[str]) -> None:
    unknown = sorted(set(regions) - set(REGIONS)) if not isinstance(regions, str) else [regions]
    if unknown or not regions:
        raise ConfigError(f"unknown NSD regions {unknown or '(none given)'}; the regions are {', '.join(REGIONS)}")
