// RetinaFace: the face detector of upstream GPEN (face_detect/facemodels/retinaface.py,
// net.py; cfg in face_detect/data/config.py) on the engine's op graph, with either
// backbone: MobileNetV1 x0.25 (cfg_mnet) or torchvision's ResNet-50 (cfg_re50).
//
//   c3, c4, c5 = backbone(x)                     (strides 8, 16, 32)
//   p1, p2, p3 = FPN(c3, c4, c5)                 (1x1 laterals, nearest top-down, 3x3 merges)
//   f_i = SSH(p_i)                               (3x3 | 5x5 | 7x7 receptive branches, cat, ReLU)
//   loc_i, conf_i, landm_i = 1x1 heads of f_i    (2 anchors x 4, 2, 10 channels)
// Every conv_bn is a convolution and a batch norm, folded into the convolution's weight
// and bias when the weights are bound (or already folded in the model file); the graph
// holds Conv2d + BiasAct(bias, activation) pairs only.
//
// A detector is no image-to-image network: one item's input is the image as float BGR
// minus the means (104, 117, 123), unscaled, at its own size; the outputs are the nine
// head tensors (N, 2 k, ceil(H / s), ceil(W / s)), which RetinaFaceDetector::RunHeads
// flattens on the host into upstream's rows (per level, per y, per x, per anchor) and
// RetinaFacePriors pairs with their anchors. Decoding and NMS are engine/face's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "model/model_file.h"
#include "model/weights.h"
#include "net/network.h"

namespace gpen {

struct RetinaFaceArch {
  std::string backbone = "mobilenet0.25";  // or "resnet50"
  bool folded = false;  // the model file holds folded conv biases instead of batch norms

  bool resnet() const { return backbone == "resnet50"; }
  // cfg's in_channel (the FPN takes 2x, 4x, 8x of it) and out_channel.
  int64_t in_channel() const { return resnet() ? 256 : 32; }
  int64_t out_channel() const { return resnet() ? 256 : 64; }
  std::string ToString() const;
  Status Validate(const std::string& where) const;
  static Result<RetinaFaceArch> FromModelFile(const ModelFile& file);
  // "retinaface-mnet" and "retinaface-r50": folded, for random weights and shapes only.
  static Result<RetinaFaceArch> Preset(const std::string& name);
  static std::vector<std::string> PresetNames();
};

// A convolution with its batch norm folded in: weight (Cout, Cin / groups, k, k), bias (Cout).
struct RfConvW {
  Param weight, bias;
};
// MobileNetV1's conv_dw: depthwise 3x3 (stride) then pointwise 1x1, each BN + leaky 0.1.
struct RfDwBlockW {
  RfConvW dw, pw;
  int stride = 1;
};
// torchvision Bottleneck: 1x1, 3x3 (stride), 1x1 x4; downsample (1x1, stride) on block 0.
struct RfBottleneckW {
  RfConvW conv1, conv2, conv3, downsample;
  bool has_downsample = false;
  int stride = 1;
};
// net.py SSH.
struct RfSshW {
  RfConvW conv3x3, conv5x5_1, conv5x5_2, conv7x7_2, conv7x7_3;
};

// A batch norm to fold into its convolution once the file's values are bound.
struct RfBnFold {
  std::string name;  // the BN module, for messages
  Param conv_weight, gamma, beta, mean, var;
};

struct RetinaFaceWeights {
  RetinaFaceArch arch;
  WeightStore store;
  // mobilenet0.25: stage1.0 (conv_bn 3 -> 8, stride 2), then stage1..3's conv_dw blocks.
  RfConvW mnet_first;
  std::vector<RfDwBlockW> mnet_stages[3];
  // resnet50: conv1 7x7 + bn1, layer1..4.
  RfConvW r50_conv1;
  std::vector<RfBottleneckW> r50_layers[4];
  RfConvW fpn_output[3], fpn_merge[2];  // output1..3, merge1..2
  RfSshW ssh[3];
  RfConvW bbox_head[3], class_head[3], landmark_head[3];
  std::vector<RfBnFold> folds;  // empty once folded (or for a folded file)

  // Binds every tensor from a validated model file (checked before anything is
  // allocated), then folds the batch norms in double.
  static Result<RetinaFaceWeights> FromFile(const ModelFile& file);
  static Result<RetinaFaceWeights> Random(const RetinaFaceArch& arch, uint64_t seed);
  static Result<RetinaFaceWeights> ShapesOnly(const RetinaFaceArch& arch);
};

// Anchors per position and the feature strides (cfg min_sizes / steps).
inline constexpr int64_t kRetinaFaceAnchors = 2;
inline constexpr int64_t kRetinaFaceSteps[3] = {8, 16, 32};
// Values per prior row of each head: loc, conf, landms.
inline constexpr int64_t kRetinaFaceLoc = 4, kRetinaFaceConf = 2, kRetinaFaceLandm = 10;
// The graph's output names, per level i: "loc<i>", "conf<i>", "landm<i>".
std::string RetinaFaceOutputName(const char* head, int level);

// Rows of the flattened heads for an h x w input: sum over the levels of
// 2 * ceil(h / step) * ceil(w / step).
int64_t RetinaFacePriorCount(int64_t h, int64_t w);
// layers/functions/prior_box.py PriorBox(cfg, image_size=(h, w)).forward(): (P, 4) rows
// (cx, cy, w, h) normalized by the image size, per level, y, x, min size; not clipped.
std::vector<float> RetinaFacePriors(int64_t h, int64_t w);

// The op graph of a batch: input "x" (N, 3, H, W), the nine head outputs.
Graph BuildRetinaFaceGraph(const RetinaFaceWeights& w, const GraphOptions& options);

class RetinaFaceNetwork : public Network {
 public:
  explicit RetinaFaceNetwork(std::shared_ptr<const RetinaFaceWeights> w) : w_(std::move(w)) {}
  std::string family() const override { return "retinaface"; }
  std::string Describe() const override { return w_->arch.ToString(); }
  std::string ItemNoun() const override { return "image"; }
  const WeightStore& store() const override { return w_->store; }
  const RetinaFaceWeights& weights() const { return *w_; }

  // in: (3, h, w); out: (16, P, 1), a prior row's loc, conf and landms values.
  Result<IoSpec> Io(int64_t h, int64_t w) const override;
  // The heads are the graph's outputs: there is no "image" (run with RetinaFaceDetector).
  Graph BuildGraph(const GraphOptions& options) const override;
  // upstream: img = np.float32(bgr_uint8); img -= (104, 117, 123); as (3, h, w) planes B, G, R.
  void Preprocess(const Image& img, const IoSpec& io, float* dst) const override;
  // Not an image: a programmer error (use RetinaFaceDetector::RunHeads).
  Image Postprocess(const float* src, const IoSpec& io) const override;

 private:
  std::shared_ptr<const RetinaFaceWeights> w_;
};

// The network as a RetinaFace one (LoadNetwork and NetworkForArch return a Network), or
// an InvalidArgument naming its family.
Result<std::shared_ptr<const RetinaFaceNetwork>> AsRetinaFace(std::shared_ptr<const Network> net);

// RetinaFace.forward in phase 'test', flattened: one image's heads as upstream returns
// them (batch dimension dropped), P = RetinaFacePriorCount(h, w).
struct DetectorHeads {
  int64_t priors = 0;
  std::vector<float> loc;     // (P, 4)
  std::vector<float> conf;    // (P, 2), F.softmax over the 2 classes (background, face)
  std::vector<float> landms;  // (P, 10)
};

// One graph of batch 1 for h x w inputs on one backend; the head outputs are found once.
class RetinaFaceDetector {
 public:
  static Result<std::unique_ptr<RetinaFaceDetector>> Create(
      std::shared_ptr<const RetinaFaceNetwork> network, int64_t h, int64_t w, Device device,
      const BackendOptions& options);
  // input: (3, h, w), BGR minus the means (RetinaFaceNetwork::Preprocess).
  Result<DetectorHeads> RunHeads(const float* input_bgr_minus_mean);
  int64_t height() const { return h_; }
  int64_t width() const { return w_; }
  Backend& backend() { return *backend_; }

 private:
  RetinaFaceDetector() = default;
  // Appends head tensor (1, 2 k, fh, fw) as rows of k values (permute(0, 2, 3, 1).view).
  Status AppendHead(int tensor, int64_t k, std::vector<float>* rows);

  std::shared_ptr<const RetinaFaceNetwork> network_;
  Graph graph_;
  std::unique_ptr<Backend> backend_;
  int64_t h_ = 0, w_ = 0;
  int loc_[3] = {-1, -1, -1}, conf_[3] = {-1, -1, -1}, landm_[3] = {-1, -1, -1};
  std::vector<float> scratch_;
};

}  // namespace gpen
