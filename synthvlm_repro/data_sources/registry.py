"""Every input of the ``paper`` profile, as plain data: what it is, where it comes from, where it goes
under the data root, which config keys it fills, and how ``data check`` verifies it.

The layout under the data root is LLaVA-1.5's ``playground/data`` (so the 665K JSON's image paths resolve
against the root itself, the default of ``training.phase2_image_folder``), plus ``LLaVA-Pretrain/``,
``eval/`` (LLaVA's ``playground/data/eval``), ``mmlu/data/`` (Hendrycks layout) and ``datajuicer/``.
Sources: ``../shared/reference/anchors.md`` §A1 (LLaVA-1.5 data), haotian-liu/LLaVA ``docs/Data.md`` and
``docs/Evaluation.md``, TRI-ML/prismatic-vlms ``prismatic/preprocessing/download.py`` (image URLs),
``datajuicer.md`` (KenLM files). Sizes marked "≈" were reported by users, not measured here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DEFAULT_DATA_ROOT = "data"  # under the project root; training.phase2_data's default lives there


@dataclass(frozen=True)
class HubFile:
    """One file of a hub repo, fetched with ``hf_hub_download`` (resumable, HF cache)."""

    repo_id: str
    filename: str
    repo_type: Literal["dataset", "model"] = "dataset"


@dataclass(frozen=True)
class DataSource:
    """One input: where it comes from, where it is placed, what it fills, how it is checked."""

    name: str
    what: str
    origin: str
    size: str
    licence: str
    path: str  # file or folder under the data root that `check` looks at
    kind: Literal["llava_json", "image_dir", "kenlm", "llava_eval", "mmlu"]
    stages: tuple[str, ...]
    fills: dict[str, str] = field(default_factory=dict)  # dotted config key -> path under the data root
    hub: tuple[HubFile, ...] = ()
    unpack: Literal["file", "unzip", "mmlu_csv", "kenlm"] | None = None
    manual: tuple[str, ...] = ()  # steps for what the kit cannot fetch
    expected_rows: int | None = None  # JSON rows / questions where a figure is published
    rows_source: str = ""
    images_of: tuple[str, str] | None = None  # (source whose JSON names these images, path prefix in it)
    image_root: str | None = None  # llava_json: folder its `image` paths are relative to

    @property
    def fetchable(self) -> bool:
        return bool(self.hub)


_LLAVA_IMAGES = "Images of LLaVA-665K ({}); they sit under training.phase2_image_folder"

SOURCES: tuple[DataSource, ...] = (
    DataSource(
        name="llava-pretrain-captions",
        what="LCS-558K: BLIP captions of LAION/CC/SBU images (LLaVA-1.5 training phase 1), the caption pool stage 01 curates",
        origin="hf dataset liuhaotian/LLaVA-Pretrain: blip_laion_cc_sbu_558k.json",
        size="181 MB (LLaVA docs/Data.md)",
        licence="LLaVA data card: research use; also bound by the LAION/CC/SBU image and BLIP terms",
        path="LLaVA-Pretrain/blip_laion_cc_sbu_558k.json",
        kind="llava_json", stages=("01", "03"),
        # not figures.tsne_datasets: stage 06 reads images relative to the JSON's folder, these are under images/
        fills={"curation.source": "LLaVA-Pretrain/blip_laion_cc_sbu_558k.json",
               "selection.quality_dataset": "LLaVA-Pretrain/blip_laion_cc_sbu_558k.json"},
        hub=(HubFile("liuhaotian/LLaVA-Pretrain", "blip_laion_cc_sbu_558k.json"),), unpack="file",
        expected_rows=558_128, rows_source="anchors.md §A1",
        image_root="LLaVA-Pretrain/images",
    ),
    DataSource(
        name="llava-pretrain-images",
        what="The original LAION/CC/SBU images of LCS-558K (stage 01's CLIP and BLIP-ITM filters read them)",
        origin="hf dataset liuhaotian/LLaVA-Pretrain: images.zip, extracted to LLaVA-Pretrain/images/",
        size="≈25 GB zip (reported by users), the same again extracted",
        licence="research use only; each image keeps its LAION/CC/SBU owner's rights",
        path="LLaVA-Pretrain/images",
        kind="image_dir", stages=("01", "03"),
        fills={"curation.image_root": "LLaVA-Pretrain/images",
               "selection.quality_image_dir": "LLaVA-Pretrain/images"},
        hub=(HubFile("liuhaotian/LLaVA-Pretrain", "images.zip"),), unpack="unzip",
        images_of=("llava-pretrain-captions", ""),
    ),
    DataSource(
        name="llava-instruct-665k",
        what="LLaVA-1.5's visual instruction mix (stage 04, training phase 2), multi-turn, some rows text-only",
        origin="hf dataset liuhaotian/LLaVA-Instruct-150K: llava_v1_5_mix665k.json",
        size="≈1 GB",
        licence="CC BY 4.0 (data card); generated with GPT-4, so OpenAI's terms of use apply",
        path="llava_v1_5_mix665k.json",
        kind="llava_json", stages=("04",),
        fills={"training.phase2_data": "llava_v1_5_mix665k.json", "training.phase2_image_folder": "."},
        hub=(HubFile("liuhaotian/LLaVA-Instruct-150K", "llava_v1_5_mix665k.json"),), unpack="file",
        expected_rows=665_298, rows_source="LLaVA-1.5 mix665k as released",
        image_root=".",
    ),
    DataSource(
        name="coco-train2017", what=_LLAVA_IMAGES.format("COCO train2017"),
        origin="http://images.cocodataset.org/zips/train2017.zip", size="≈18 GB",
        licence="COCO: images under their Flickr licences, annotations CC BY 4.0",
        path="coco/train2017", kind="image_dir", stages=("04",),
        manual=("wget http://images.cocodataset.org/zips/train2017.zip",
                "unzip train2017.zip -d DATA_ROOT/coco   # gives coco/train2017/000000000009.jpg ..."),
        images_of=("llava-instruct-665k", "coco/"),
    ),
    DataSource(
        name="gqa-images", what=_LLAVA_IMAGES.format("GQA"),
        origin="https://downloads.cs.stanford.edu/nlp/data/gqa/images.zip", size="≈20 GB",
        licence="GQA: CC BY 4.0 (images from Visual Genome)",
        path="gqa/images", kind="image_dir", stages=("04",),
        manual=("wget https://downloads.cs.stanford.edu/nlp/data/gqa/images.zip",
                "unzip images.zip -d DATA_ROOT/gqa   # gives gqa/images/<id>.jpg"),
        images_of=("llava-instruct-665k", "gqa/"),
    ),
    DataSource(
        name="ocr-vqa-images", what=_LLAVA_IMAGES.format("OCR-VQA book covers"),
        origin="OCR-VQA's loadDataset.py (https://ocr-vqa.github.io/), or the zip mirrored on the hub "
               "(qnguyen3/ocr_vqa, as prismatic-vlms uses)", size="≈few GB",
        licence="OCR-VQA: research use; covers from Amazon",
        path="ocr_vqa/images", kind="image_dir", stages=("04",),
        manual=("python loadDataset.py   # from OCR-VQA; downloads the covers named in dataset.json",
                "save every image as .jpg, whatever its real format (LLaVA README) into DATA_ROOT/ocr_vqa/images/",
                "a few covers are dead links: `data check` lists which 665K rows miss their image"),
        images_of=("llava-instruct-665k", "ocr_vqa/"),
    ),
    DataSource(
        name="textvqa-images", what=_LLAVA_IMAGES.format("TextVQA train"),
        origin="https://dl.fbaipublicfiles.com/textvqa/images/train_val_images.zip", size="≈7 GB",
        licence="TextVQA: CC BY 4.0 (images from OpenImages)",
        path="textvqa/train_images", kind="image_dir", stages=("04",),
        manual=("wget https://dl.fbaipublicfiles.com/textvqa/images/train_val_images.zip",
                "unzip train_val_images.zip -d DATA_ROOT/textvqa   # gives textvqa/train_images/<id>.jpg"),
        images_of=("llava-instruct-665k", "textvqa/"),
    ),
    DataSource(
        name="vg-images", what=_LLAVA_IMAGES.format("Visual Genome parts 1 and 2"),
        origin="https://cs.stanford.edu/people/rak248/VG_100K_2/images.zip and images2.zip", size="≈15 GB",
        licence="Visual Genome: CC BY 4.0",
        path="vg", kind="image_dir", stages=("04",),
        manual=("wget https://cs.stanford.edu/people/rak248/VG_100K_2/images.zip "
                "https://cs.stanford.edu/people/rak248/VG_100K_2/images2.zip",
                "unzip images.zip -d DATA_ROOT/vg && unzip images2.zip -d DATA_ROOT/vg   # vg/VG_100K/, vg/VG_100K_2/"),
        images_of=("llava-instruct-665k", "vg/"),
    ),
    DataSource(
        name="llava-eval",
        what="LLaVA-1.5's evaluation tree (question files of eval.zip + each benchmark's images and answers)",
        origin="eval.zip (Google Drive link in haotian-liu/LLaVA docs/Evaluation.md) + per-benchmark downloads",
        size="eval.zip ≈ hundreds of MB; with images ≈ 20 GB (COCO val2014/test2015 dominate)",
        licence="each benchmark's own (GQA/TextVQA/VQAv2/VizWiz CC BY 4.0; MME and MMBench research use)",
        path="eval", kind="llava_eval", stages=("05",),
        fills={"evaluation.data_dir": "eval"},
        manual=("download eval.zip from the Google Drive link in LLaVA docs/Evaluation.md; "
                "unzip eval.zip -d DATA_ROOT   # gives DATA_ROOT/eval/<benchmark>/",
                "gqa: GQA images into eval/gqa/data/images/, testdev_balanced_questions.json into eval/gqa/data/ "
                "(LLaVA scripts/v1_5/eval/gqa.sh: GQADIR=playground/data/eval/gqa/data)",
                "scienceqa: images/test/, problems.json, pid_splits.json from lupantech/ScienceQA data/scienceqa",
                "textvqa: train_val_images.zip -> eval/textvqa/train_images/, TextVQA_0.5.1_val.json into eval/textvqa/",
                "pope: POPE's output/coco/ -> eval/pope/coco/, COCO val2014 images -> eval/pope/val2014/",
                "mme: MME_Benchmark_release_version/ (from the MME authors) -> eval/MME/",
                "mmbench: mmbench_dev_20230712.tsv (download.openmmlab.com) -> eval/mmbench/",
                "vqav2: COCO test2015 -> eval/vqav2/test2015/; for the scored val split also val2014/ and "
                "v2_mscoco_val2014_annotations.json",
                "vizwiz: test.zip -> eval/vizwiz/test/ (answers go to the EvalAI server)"),
    ),
    DataSource(
        name="mmlu",
        what="MMLU (57 subjects, 5-shot dev + test) for the language-ability check, in the Hendrycks CSV layout",
        origin="hf dataset cais/mmlu (all/dev + all/test parquet), converted to mmlu/data/{dev,test}/*.csv; "
               "or Hendrycks' data.tar (https://people.eecs.berkeley.edu/~hendrycks/data.tar) unpacked to mmlu/",
        size="≈ 5 MB (test + dev parquet)",
        licence="MIT (hendrycks/test)",
        path="mmlu/data", kind="mmlu", stages=("05",),
        fills={"evaluation.mmlu_data_dir": "mmlu/data"},
        hub=(HubFile("cais/mmlu", "all/dev-00000-of-00001.parquet"),
             HubFile("cais/mmlu", "all/test-00000-of-00001.parquet")), unpack="mmlu_csv",
        expected_rows=14_042 + 285, rows_source="MMLU test 14,042 + dev 285 (57 x 5)",
    ),
    DataSource(
        name="kenlm-wikipedia-en",
        what="Data-Juicer's perplexity models: KenLM en.arpa.bin + SentencePiece en.sp.model (Wikipedia, edugp)",
        origin="hf model edugp/kenlm: wikipedia/en.arpa.bin, wikipedia/en.sp.model (Data-Juicer's own fallback "
               "URL; its primary copy is on Aliyun OSS .../data_juicer/models/)",
        size="≈4-5 GB (en.arpa.bin) + <1 MB",
        licence="edugp/kenlm model card (trained on Wikipedia, CC BY-SA text)",
        path="datajuicer", kind="kenlm", stages=("01",),
        fills={"curation.kenlm_model": "datajuicer/en.arpa.bin",
               "curation.sentencepiece_model": "datajuicer/en.sp.model"},
        hub=(HubFile("edugp/kenlm", "wikipedia/en.arpa.bin", "model"),
             HubFile("edugp/kenlm", "wikipedia/en.sp.model", "model")), unpack="kenlm",
        manual=("or: wget https://dail-wlcb.oss-cn-wulanchabu.aliyuncs.com/data_juicer/models/en.arpa.bin "
                "and .../en.sp.model into DATA_ROOT/datajuicer/",),
    ),
)

BY_NAME: dict[str, DataSource] = {s.name: s for s in SOURCES}

# Files `check` looks for per benchmark besides the question files the evaluation readers open
# (mirrors synthvlm_repro/evaluation/benchmarks.py's docstring: answers read at scoring time).
EVAL_ANSWER_FILES: dict[str, tuple[str, ...]] = {
    "gqa": ("gqa/data/testdev_balanced_questions.json",),
    "scienceqa_img": ("scienceqa/problems.json",),
    "textvqa": ("textvqa/TextVQA_0.5.1_val.json",),
    "pope": tuple(f"pope/coco/coco_pope_{s}.json" for s in ("adversarial", "popular", "random")),
    "mme": (),
    "mmbench": (),
    "vqav2": (),  # the val annotations are optional: without them only the test-dev submission is written
    "vizwiz": (),
}


def get_source(name: str) -> DataSource:
    """The registry entry called ``name``; one-line error naming the known ones."""
    if name not in BY_NAME:
        raise ValueError(f"unknown data source {name!r} (known: {', '.join(BY_NAME)})")
    return BY_NAME[name]
