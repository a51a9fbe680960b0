"""Training losses."""

from facenet.losses.triplet import REDUCTIONS, TripletLoss, TripletStats

__all__ = ["REDUCTIONS", "TripletLoss", "TripletStats"]
