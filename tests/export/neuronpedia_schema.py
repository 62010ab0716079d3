"""Neuronpedia's tables as its Prisma schema declares them (hijohnnylin/neuronpedia @ ebb8426,
apps/webapp/prisma/schema.prisma), written out by hand for the export tests; relations left out.

Each column is `name:type` plus a mark: `!` required (no default, not null: an insert without it
fails), `=` has a database default (may be left out, never null), `?` nullable (may be left out or null).
"""

from __future__ import annotations

import re
from typing import Any

TABLES_TEXT = {
    "Model": "id:str! displayNameShort:str= displayName:str= creatorId:str! tlensId:str? openRouterId:str? dimension:int? "
             "thinking:bool= visibility:visibility= defaultSourceSetName:str? defaultSourceId:str? "
             "defaultGraphSourceSetName:str? inferenceEnabled:bool= instruct:bool= layers:int! neuronsPerLayer:int! "
             "createdAt:date= owner:str! updatedAt:date= website:str?",
    "Source": "id:str! modelId:str! hasDashboards:bool= inferenceEnabled:bool= saelensConfig:json? saelensRelease:str? "
              "saelensSaeId:str? hfRepoId:str? hfFolderId:str? visibility:visibility= defaultOfModelId:str? setName:str! "
              "creatorId:str! hasUmap:bool= hasUmapLogSparsity:bool= hasUmapClusters:bool= num_prompts:int? "
              "num_tokens_in_prompt:int? dataset:str? notes:str? cosSimMatchModelId:str? cosSimMatchSourceId:str? createdAt:date=",
    "SourceSet": "modelId:str! name:str! hasDashboards:bool= allowInferenceSearch:bool= visibility:visibility= "
                 "description:str! type:str= creatorName:str! urls:str[]! creatorEmail:str? creatorId:str! releaseName:str? "
                 "hasGraphs:bool= graphEnabled:bool= similarityMatrixEnabled:bool= defaultOfModelId:str? "
                 "defaultGraphModelId:str? defaultRange:int= defaultShowBreaks:bool= showDfa:bool= showCorrelated:bool= "
                 "showHeadAttribution:bool= showUmap:bool= createdAt:date=",
    "SourceRelease": "name:str! visibility:visibility= isNewUi:bool= featured:bool= description:str! descriptionShort:str? "
                     "urls:str[]! creatorEmail:str? creatorName:str! creatorNameShort:str? creatorId:str! "
                     "defaultSourceSetName:str? defaultSourceId:str? defaultUmapSourceIds:str[]= createdAt:date=",
    "Neuron": "modelId:str! layer:str! index:str! sourceSetName:str? creatorId:str? createdAt:date= maxActApprox:float? "
              "hasVector:bool= vector:float[]= vectorLabel:str? vectorDefaultSteerStrength:float? hookName:str? "
              "topkCosSimIndices:int[]= topkCosSimValues:float[]= neuron_alignment_indices:int[]= "
              "neuron_alignment_values:float[]= neuron_alignment_l1:float[]= correlated_neurons_indices:int[]= "
              "correlated_neurons_pearson:float[]= correlated_neurons_l1:float[]= correlated_features_indices:int[]= "
              "correlated_features_pearson:float[]= correlated_features_l1:float[]= neg_str:str[]= neg_values:float[]= "
              "pos_str:str[]= pos_values:float[]= frac_nonzero:float= freq_hist_data_bar_heights:float[]= "
              "freq_hist_data_bar_values:float[]= logits_hist_data_bar_heights:float[]= logits_hist_data_bar_values:float[]= "
              "decoder_weights_dist:float[]= umap_cluster:int? umap_log_feature_sparsity:float? umap_x:float? umap_y:float?",
    "Explanation": "id:str= modelId:str! layer:str! index:str! embedding:float[]? description:str! authorId:str! "
                   "triggeredByUserId:str? notes:str? scoreV1:float= scoreV2:float? umap_x:float? umap_y:float? "
                   "umap_cluster:int? umap_log_feature_sparsity:float? typeName:str? explanationModelName:str? "
                   "createdAt:date= updatedAt:date=",
    "ExplanationScore": "id:str= initiatedByUserId:str! value:float! explanationId:str! explanationScoreTypeName:str! "
                        "explanationScoreModelName:str! jsonDetails:str= createdAt:date=",
    "Activation": "id:str= tokens:str[]! dataIndex:str? index:str! layer:str! modelId:str! dataSource:str? maxValue:float! "
                  "maxValueTokenIndex:int! minValue:float! values:float[]! dfaValues:float[]= dfaTargetIndex:int? "
                  "dfaMaxValue:float? zQIndices:int[]= zKIndices:int[]= zValues:float[]= creatorId:str! createdAt:date= "
                  "lossValues:float[]= logitContributions:str? binMin:float? binMax:float? binContains:float? "
                  "qualifyingTokenIndex:int?",
    "ExplanationType": "name:str! displayName:str! description:str! featured:bool= isAttention:bool= "
                       "explainerModelSettingsId:str? settings:str? url:str? creatorName:str! creatorId:str! "
                       "createdAt:date= updatedAt:date=",
    "ExplanationModelType": "name:str! displayName:str! description:str! featured:bool= openRouterModelId:str? url:str? "
                            "creatorName:str! createdAt:date= updatedAt:date=",
    "ExplanationScoreType": "name:str! displayName:str! description:str! featured:bool= isAttention:bool= "
                            "scoreDescription:str? scorerModel:str? settings:str? url:str? creatorName:str! creatorId:str! "
                            "createdAt:date= updatedAt:date=",
    "ExplanationScoreModel": "name:str! displayName:str! description:str! featured:bool= openRouterModelId:str? url:str? "
                             "creatorName:str! createdAt:date= updatedAt:date=",
}

TABLES = {table: {col.split(":")[0]: (col.split(":")[1][:-1], col[-1]) for col in text.split()}
          for table, text in TABLES_TEXT.items()}
"""{table: {column: (type, mark)}}."""

VISIBILITY = ("PUBLIC", "UNLISTED", "PRIVATE")
MODEL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


def _type_ok(kind: str, value: Any) -> bool:
    """Does a JSON value fit a column type?"""
    if kind.endswith("[]"):
        return isinstance(value, list) and all(_type_ok(kind[:-2], v) for v in value)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {"str": isinstance(value, str), "int": isinstance(value, int) and not isinstance(value, bool),
            "float": number, "bool": isinstance(value, bool), "date": isinstance(value, str),
            "visibility": value in VISIBILITY, "json": True}[kind]


def problems(table: str, rows: list[dict[str, Any]]) -> list[str]:
    """Everything in the rows of one file that the table would refuse, or that the importer would drop."""
    columns = TABLES[table]
    found = []
    if rows and any(set(r) != set(rows[0]) for r in rows):
        found.append(f"{table}: rows have different keys (the importer takes the first row's columns)")
    for n, row in enumerate(rows):
        for name, value in row.items():
            if name not in columns:
                found.append(f"{table}[{n}].{name}: no such column")
            elif value is None:
                if columns[name][1] != "?":
                    found.append(f"{table}[{n}].{name}: null in a non-null column")
            elif not _type_ok(columns[name][0], value):
                found.append(f"{table}[{n}].{name}: {value!r} is not {columns[name][0]}")
        found += [f"{table}[{n}].{c}: required, missing" for c, (_, mark) in columns.items() if mark == "!" and c not in row]
    return found
