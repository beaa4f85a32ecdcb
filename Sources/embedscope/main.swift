import EmbedScope
print(EmbedScopeVersion.string)
