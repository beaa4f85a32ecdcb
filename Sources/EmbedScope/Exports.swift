// `import EmbedScope` gives a user every public layer: the pipelines here and the layers below.
@_exported import EmbedScopeCore
@_exported import EmbedScopeImages
@_exported import EmbedScopeModels
@_exported import EmbedScopeAnalysis
@_exported import EmbedScopeReport
