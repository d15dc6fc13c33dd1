"""Classification and grading [分类分级]: which data is sensitive, and how sensitive."""

from custodata.classification.grading import Grading, TypeGrade, load_grading

__all__ = ["Grading", "TypeGrade", "load_grading"]
