"""Train the sentiment LSTM (SageMaker script mode): reads train.csv (label, length, words...)
and word_dict.pkl from the training channel; writes model_info.pth, word_dict.pkl, model.pth."""

import argparse
import json
import os
import pickle

import pandas as pd
import torch
import torch.utils.data
from torch import nn, optim

from model import LSTMClassifier


def train_loader(batch_size, training_dir):
    data = pd.read_csv(os.path.join(training_dir, "train.csv"), header=None, names=None)
    y = torch.from_numpy(data[[0]].values).float().squeeze()
    X = torch.from_numpy(data.drop([0], axis=1).values).long()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y),
                                       batch_size=batch_size, shuffle=True)


def train(model, loader, epochs, optimizer, loss_fn, device):
    for epoch in range(1, epochs + 1):
        model.train()
        total = 0.0
        for batch_X, batch_y in loader:
            batch_X, batch_y = batch_X.to(device), batch_y.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(batch_X), batch_y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"Epoch: {epoch}, BCELoss: {total / len(loader):.4f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--embedding_dim", type=int, default=32)
    parser.add_argument("--hidden_dim", type=int, default=100)
    parser.add_argument("--vocab_size", type=int, default=5000)
    parser.add_argument("--hosts", type=list, default=json.loads(os.environ["SM_HOSTS"]))
    parser.add_argument("--current-host", type=str, default=os.environ["SM_CURRENT_HOST"])
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--data-dir", type=str, default=os.environ["SM_CHANNEL_TRAINING"])
    parser.add_argument("--num-gpus", type=int, default=int(os.environ.get("SM_NUM_GPUS", 0)))
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"Using device {device}.")
    torch.manual_seed(args.seed)
    loader = train_loader(args.batch_size, args.data_dir)
    with open(os.path.join(args.data_dir, "word_dict.pkl"), "rb") as f:
        word_dict = pickle.load(f)
    model = LSTMClassifier(args.embedding_dim, args.hidden_dim, args.vocab_size).to(device)
    print(f"Model loaded with embedding_dim {args.embedding_dim}, hidden_dim {args.hidden_dim}, "
          f"vocab_size {args.vocab_size}.")
    train(model, loader, args.epochs, optim.Adam(model.parameters()), nn.BCELoss(), device)

    with open(os.path.join(args.model_dir, "model_info.pth"), "wb") as f:
        torch.save({"embedding_dim": args.embedding_dim, "hidden_dim": args.hidden_dim,
                    "vocab_size": args.vocab_size}, f)
    with open(os.path.join(args.model_dir, "word_dict.pkl"), "wb") as f:
        pickle.dump(word_dict, f)
    with open(os.path.join(args.model_dir, "model.pth"), "wb") as f:
        torch.save(model.cpu().state_dict(), f)
