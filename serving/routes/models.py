"""`GET /v1/models`: what this server runs, with versions, metadata and checksums."""

from __future__ import annotations

from fastapi import APIRouter

from mealimpact.model_repository.loading import RepositoryModel, TensorSpec
from serving.dependencies import RuntimeDep
from serving.schemas.system import ModelInfo, ModelsResponse, TensorMetadata

router = APIRouter(prefix="/v1", tags=["models"])


def tensor_metadata(spec: TensorSpec) -> TensorMetadata:
    return TensorMetadata(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))


def model_info(model: RepositoryModel) -> ModelInfo:
    return ModelInfo(
        name=model.name,
        version=model.version,
        platform=model.platform,
        sha256=model.sha256,
        inputs=[tensor_metadata(s) for s in model.inputs],
        outputs=[tensor_metadata(s) for s in model.outputs],
        metadata=model.metadata_json(),
    )


@router.get("/models", response_model=ModelsResponse, summary="Loaded models: versions, metadata, checksums")
async def list_models(runtime: RuntimeDep) -> ModelsResponse:
    return ModelsResponse(
        models=[model_info(m) for m in sorted(runtime.models.values(), key=lambda m: m.name)]
    )
