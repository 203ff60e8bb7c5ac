"""A version's model card: Markdown from its ``meta.json`` alone (transport-free, engine-free).

The sections are those of Mitchell et al., "Model Cards for Model Reporting" (2019), that the
service can fill from what it recorded: model details, intended use, training data, evaluation,
caveats and recommendations. Nothing is inferred beyond the recorded numbers: a section whose
facts were not recorded (an older version, no description) says so.
"""

from __future__ import annotations

from typing import Any

from service.names import validate_model_name
from service.store import ModelStore

#: Expected calibration error above which the card calls the probabilities miscalibrated.
ECE_THRESHOLD = 0.05
#: Held-out recall below which a class is named as poorly recognised.
LOW_RECALL = 0.7
#: Held-out rows below which the card says the metrics are uncertain.
FEW_TEST_ROWS = 30
#: Training minus held-out accuracy above which the card warns of overfitting.
OVERFIT_GAP = 0.1

_HEADLINE = [("accuracy", "Accuracy"), ("balanced_accuracy", "Balanced accuracy"),
             ("macro_f1", "Macro-F1"), ("log_loss", "Log loss"),
             ("roc_auc", "ROC AUC (macro, one-vs-rest)"), ("brier_score", "Brier score"),
             ("ece", "Expected calibration error (10 bins)")]


def num(value: Any) -> str:
    """A metric as the card prints it: 4 decimals, or a dash when undefined."""
    return "—" if value is None else f"{value:.4f}"


def render_card(meta: dict[str, Any]) -> str:
    """The Markdown model card of the version ``meta`` describes."""
    evaluation = meta.get("evaluation")
    parts = [f"# Model card: {meta.get('model')} version {meta.get('version')}",
             _details(meta), _intended_use(meta), _training_data(meta),
             _evaluation(evaluation), _caveats(evaluation)]
    return "\n\n".join(parts) + "\n"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _details(meta: dict[str, Any]) -> str:
    params = meta.get("params") or {}
    classes = meta.get("classes") or []
    hidden = params.get("hidden_layers")
    layers = " → ".join([f"{meta.get('n_features')} inputs",
                         *(f"{units} ({params.get('activation')})" for units in hidden or []),
                         f"{len(classes)} outputs (softmax)"])
    lines = ["## Model details", "",
             "- Type: multi-layer perceptron classifier (nnserve's NumPy engine), trained with "
             f"{params.get('optimizer')} on cross-entropy",
             f"- Architecture: {layers}" if hidden is not None else
             "- Architecture: not recorded",
             f"- Classes: {', '.join(_cell(c) for c in classes)}",
             f"- Artifact sha256: `{meta.get('artifact_sha256')}` "
             f"({meta.get('artifact_bytes')} bytes)",
             f"- Created: {meta.get('created_at')}",
             f"- Training job: {meta.get('job_id') or 'none recorded (published directly)'}"
             + (f", {meta['training_seconds']} s" if meta.get("training_seconds") else "")]
    if params:
        lines += ["", "Parameters:", "", _table(["Parameter", "Value"],
                                                [[k, v] for k, v in params.items()])]
    return "\n".join(lines)


def _intended_use(meta: dict[str, Any]) -> str:
    description = meta.get("description")
    if not description:
        return ("## Intended use\n\nNot recorded: no `description` was given when this version "
                "was trained.")
    quoted = "\n".join("> " + line for line in str(description).splitlines())
    return f"## Intended use\n\nAs described at training:\n\n{quoted}"


def _training_data(meta: dict[str, Any]) -> str:
    dataset = meta.get("dataset") or {}
    split = (meta.get("evaluation") or {}).get("split")
    lines = ["## Training data", "",
             f"- Rows: {dataset.get('rows', 'not recorded')}"]
    if split:
        lines[-1] += (f" ({split['train_rows']} trained on, {split['test_rows']} held out for "
                      "testing)")
    lines.append(f"- Dataset sha256: `{dataset.get('sha256', 'not recorded')}`")
    schema = meta.get("input_schema")
    names = meta.get("feature_names")
    if schema:
        lines += ["", "Features:", "", _table(
            ["Feature", "Type", "Missing in training", "Note"],
            [[c["name"], c["type"], f"{c.get('missing_rate', 0):.1%}",
              f"dropped ({c.get('dropped_reason')})" if c.get("dropped") else ""]
             for c in schema])]
    else:
        named = f": {', '.join(map(_cell, names))}" if names else " (unnamed)"
        lines.append(f"- Features: {meta.get('n_features')} numeric{named}")
    counts = dataset.get("class_counts")
    classes = meta.get("classes") or []
    if counts and len(counts) == len(classes):
        total = sum(counts) or 1
        lines += ["", "Class balance:", "", _table(
            ["Class", "Rows", "Share"],
            [[c, n, f"{n / total:.1%}"] for c, n in zip(classes, counts, strict=True)])]
    else:
        lines.append("- Class balance: not recorded for this version")
    return "\n".join(lines)


def _evaluation(evaluation: dict[str, Any] | None) -> str:
    if not evaluation:
        return ("## Evaluation\n\nNot recorded: this version was trained before held-out "
                "evaluation was part of training.")
    split, test, train = evaluation["split"], evaluation.get("test"), evaluation.get("train")
    if test:
        lines = ["## Evaluation", "",
                 f"On {test['rows']} held-out rows ({split['test_split']:.0%} of each class, "
                 f"seed {split['seed']}) that training never saw, and for comparison on the "
                 f"{train['rows'] if train else '—'} rows trained on."]
    else:
        lines = ["## Evaluation", "", "No rows were held out: "
                 f"{split.get('note') or 'no reason recorded'}. Only metrics on the rows "
                 "trained on exist, and they overstate how the model does on new data."]
    if not train and not test:
        return "\n".join(lines)
    lines += ["", _table(["Metric", "Held-out", "Training"],
                         [[label, num(test[key]) if test else "—",
                           num(train[key]) if train else "—"] for key, label in _HEADLINE])]
    shown, where = (test, "held-out") if test else (train, "training")
    assert shown is not None
    lines += ["", f"Per class ({where} rows):", "", _table(
        ["Class", "Precision", "Recall", "F1", "Support", "ROC AUC"],
        [[c["class"], num(c["precision"]), num(c["recall"]), num(c["f1"]), c["support"],
          num(c["roc_auc"])] for c in shown["per_class"]])]
    lines += ["", f"Confusion matrix ({where} rows; rows the true class, columns the "
                  "predicted one):", "", _table(
                      ["true \\ predicted", *map(str, shown["classes"])],
                      [[c, *row] for c, row in zip(shown["classes"], shown["confusion_matrix"],
                                                    strict=True)])]
    lines += ["", f"Reliability ({where} rows; bins of the top class's probability):", "",
              _table(["Confidence", "Rows", "Mean confidence", "Accuracy"],
                     [[f"{b['lower']:.1f}–{b['upper']:.1f}", b["count"],
                       num(b["mean_confidence"]), num(b["accuracy"])]
                      for b in shown["calibration"] if b["count"]])]
    return "\n".join(lines)


def _caveats(evaluation: dict[str, Any] | None) -> str:
    head = "## Caveats and recommendations\n\n"
    if not evaluation or not (evaluation.get("test") or evaluation.get("train")):
        return head + ("Not assessed: without recorded metrics the service cannot say how far "
                       "to trust this version. Evaluate it on labelled rows "
                       "(`POST /models/<name>/versions/<v>/evaluate`) before relying on it.")
    test, train = evaluation.get("test"), evaluation.get("train")
    shown = test or train
    assert shown is not None
    where = "held-out" if test else "training"
    notes = []
    if not test:
        notes.append("No held-out metrics: the numbers above are on the rows trained on.")
    elif test["rows"] < FEW_TEST_ROWS:
        notes.append(f"Only {test['rows']} held-out rows (fewer than {FEW_TEST_ROWS}): the "
                     "held-out metrics are uncertain.")
    filled = [b for b in shown["calibration"] if b["count"]]
    confidence = sum(b["count"] * b["mean_confidence"] for b in filled) / shown["rows"]
    accuracy = sum(b["count"] * b["accuracy"] for b in filled) / shown["rows"]
    if shown["ece"] > ECE_THRESHOLD:
        lean = "over-confident" if confidence > accuracy else "under-confident"
        notes.append(f"Calibration: expected calibration error {num(shown['ece'])} on the "
                     f"{where} rows is above {ECE_THRESHOLD}; the probabilities are {lean} "
                     f"(mean top-class probability {num(confidence)}, accuracy "
                     f"{num(accuracy)}). Read them as scores, not as frequencies.")
    else:
        notes.append(f"Calibration: expected calibration error {num(shown['ece'])} on the "
                     f"{where} rows is within {ECE_THRESHOLD}.")
    weak = [c for c in shown["per_class"] if c["support"] and c["recall"] < LOW_RECALL]
    if weak:
        named = ", ".join(f"{_cell(c['class'])} ({num(c['recall'])})" for c in weak)
        notes.append(f"Low recall (below {LOW_RECALL}) on the {where} rows for: {named}. "
                     "Rows of these classes are often given another class.")
    else:
        notes.append(f"Every class present in the {where} rows has recall of at least "
                     f"{LOW_RECALL}.")
    if test and train and train["accuracy"] - test["accuracy"] > OVERFIT_GAP:
        notes.append(f"Training accuracy {num(train['accuracy'])} exceeds held-out accuracy "
                     f"{num(test['accuracy'])} by more than {OVERFIT_GAP}: the model may be "
                     "overfitting.")
    return head + "\n".join(f"- {n}" for n in notes)


def model_card(store: ModelStore, name: str, ref: int | str | None) -> str:
    """The card of version ``ref`` (a number, "latest" or an alias) of ``name``."""
    validate_model_name(name)
    return render_card(store.meta(name, store.resolve(name, ref)))
