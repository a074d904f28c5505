// The web page of gpen serve (engine/serve/page: index.html, app.js, style.css),
// embedded in the binary at build time by embed_page.cmake, so the server needs no
// files beside it and loads nothing from elsewhere.
#pragma once

#include <cstddef>

namespace gpen::serve {

struct PageAsset {
  const char* url;           // "/", "/app.js", "/style.css"
  const char* content_type;  // with the charset for text
  const unsigned char* data;
  size_t size;
};

// The embedded files (generated: page_assets_data.cpp in the build folder).
extern const PageAsset kPageAssets[];
extern const size_t kPageAssetCount;

}  // namespace gpen::serve
