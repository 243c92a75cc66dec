# source: https://github.com/1Konny/gradcam_plus_plus-pytorch/issues/7
# hazard: non-scalar
# cause: 47, 52
# expect: RuntimeError: grad can be implicitly created only for scalar outputs
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class SmallCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class GradCAM(object):
    def __init__(self, model_dict):
        self.model_arch = model_dict['arch']
        layer_name = model_dict['layer_name']
        self.gradients = dict()
        self.activations = dict()

        def backward_hook(module, grad_input, grad_output):
            self.gradients['value'] = grad_output[0]

        def forward_hook(module, input, output):
            self.activations['value'] = output

        target_layer = dict(self.model_arch.named_modules())[layer_name]
        target_layer.register_forward_hook(forward_hook)
        target_layer.register_full_backward_hook(backward_hook)

    def forward(self, input, class_idx=None, retain_graph=False):
        b, c, h, w = input.size()
        logit = self.model_arch(input)
        if class_idx is None:
            score = logit[:, logit.max(1)[-1]].squeeze()
        else:
            score = logit[:, class_idx].squeeze()

        self.model_arch.zero_grad()
        score.backward(retain_graph=retain_graph)
        gradients = self.gradients['value']
        activations = self.activations['value']
        k, u, v = gradients.size()[1:]
        weights = gradients.view(b, k, -1).mean(2).view(b, k, 1, 1)
        saliency_map = F.relu((weights * activations).sum(1, keepdim=True))
        saliency_map = F.interpolate(saliency_map, size=(h, w), mode='bilinear', align_corners=False)
        return saliency_map, logit

    def __call__(self, input, class_idx=None, retain_graph=False):
        return self.forward(input, class_idx, retain_graph)


model = SmallCNN().eval()
gradcam = GradCAM(dict(arch=model, layer_name='features.2'))
inputs = torch.randn(4, 3, 16, 16)
mask, _ = gradcam(inputs)
