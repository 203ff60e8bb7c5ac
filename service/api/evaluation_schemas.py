"""Documented shapes of held-out evaluation: METRICS (``models.metrics.evaluate``), a version's
``evaluation`` and the answer of ``POST /models/<name>/versions/<v>/evaluate``."""

from __future__ import annotations

from marshmallow import Schema, fields


class PerClassSchema(Schema):
    class_ = fields.Raw(data_key="class", attribute="class",
                        metadata={"description": "The class label."})
    precision = fields.Float()
    recall = fields.Float()
    f1 = fields.Float()
    support = fields.Integer(metadata={"description": "Rows of this class."})
    roc_auc = fields.Float(allow_none=True, metadata={
        "description": "One-vs-rest ROC AUC; null when the rows hold none or only this class."})


class CalibrationBinSchema(Schema):
    lower = fields.Float()
    upper = fields.Float()
    count = fields.Integer()
    mean_confidence = fields.Float(allow_none=True, metadata={
        "description": "Mean top-class probability of the bin's rows; null when empty."})
    accuracy = fields.Float(allow_none=True, metadata={
        "description": "Share of the bin's rows whose top class is right; null when empty."})


class MetricsSchema(Schema):
    """Metrics of a model on labelled rows."""

    rows = fields.Integer()
    classes = fields.List(fields.Raw())
    accuracy = fields.Float()
    balanced_accuracy = fields.Float(metadata={
        "description": "Mean recall over the classes present in the rows."})
    log_loss = fields.Float(metadata={
        "description": "Mean negative log-probability of the true class (natural log)."})
    macro_f1 = fields.Float()
    roc_auc = fields.Float(allow_none=True, metadata={
        "description": "Macro one-vs-rest ROC AUC; null unless every class's is defined."})
    brier_score = fields.Float(metadata={
        "description": "Mean over rows of the summed squared difference to the one-hot truth "
                       "(halved for two classes, as scikit-learn's brier_score_loss)."})
    ece = fields.Float(metadata={
        "description": "Expected calibration error over the 10 confidence bins."})
    per_class = fields.List(fields.Nested(PerClassSchema))
    confusion_matrix = fields.List(fields.List(fields.Integer()), metadata={
        "description": "Rows the true class, columns the predicted one, in classes order."})
    calibration = fields.List(fields.Nested(CalibrationBinSchema), metadata={
        "description": "Reliability table: 10 bins of the top-class probability."})


class SplitSchema(Schema):
    test_split = fields.Float()
    seed = fields.Integer()
    stratified = fields.Boolean()
    train_rows = fields.Integer()
    test_rows = fields.Integer()
    note = fields.String(allow_none=True, metadata={
        "description": "Why no rows were held out, when none were."})


class EvaluationSchema(Schema):
    """A version's held-out evaluation, made by its training job."""

    split = fields.Nested(SplitSchema)
    test = fields.Nested(MetricsSchema, allow_none=True, metadata={
        "description": "On the held-out rows; null when none were held out."})
    train = fields.Nested(MetricsSchema, allow_none=True, metadata={
        "description": "On the rows trained on, for comparison."})


class EvaluateResponseSchema(MetricsSchema):
    model = fields.String()
    version = fields.Integer()
