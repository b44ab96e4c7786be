"""Serve the sentiment LSTM (SageMaker inference handlers): review text in, "0" or "1" out."""

import os
import pickle

import numpy as np
import torch

from model import LSTMClassifier
from utils import convert_and_pad, review_to_words

PAD = 500


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model_info.pth"), "rb") as f:
        info = torch.load(f)
    model = LSTMClassifier(info["embedding_dim"], info["hidden_dim"], info["vocab_size"])
    with open(os.path.join(model_dir, "model.pth"), "rb") as f:
        model.load_state_dict(torch.load(f))
    with open(os.path.join(model_dir, "word_dict.pkl"), "rb") as f:
        model.word_dict = pickle.load(f)
    model.eval()
    return model


def input_fn(serialized_input_data, content_type):
    if content_type == "text/plain":
        if isinstance(serialized_input_data, bytes):
            return serialized_input_data.decode("utf-8")
        return serialized_input_data
    raise ValueError(f"Requested unsupported ContentType in content_type: {content_type}")


def predict_fn(input_data, model):
    if model.word_dict is None:
        raise ValueError("Model has not been loaded properly, no word_dict.")
    words, length = convert_and_pad(model.word_dict, review_to_words(input_data), PAD)
    data = torch.from_numpy(np.hstack(([max(length, 1)], words)).reshape(1, -1)).long()
    with torch.no_grad():
        output = model(data)
    return int(np.round(output.numpy()))


def output_fn(prediction_output, accept):
    return str(prediction_output)
