"""Example entry: a scikit-learn model as a SimShift method (fit / predict on numpy)."""
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from benchmark.methods import Method
from benchmark.methods.features import physics_features


class BoostedTrees(Method):
    framework = "sklearn"

    def fit(self, data):
        # early stopping uses an internal split of the labelled source train set only
        self.model = HistGradientBoostingClassifier(max_iter=int(self.config["max_iter"]),
                                                    random_state=self.context.seed)
        self.model.fit(physics_features(data.train), data.train.labels)

    def predict(self, events):
        p = self.model.predict_proba(physics_features(events))
        out = np.zeros((len(events), self.context.family.num_classes))
        out[:, self.model.classes_] = p
        return out
