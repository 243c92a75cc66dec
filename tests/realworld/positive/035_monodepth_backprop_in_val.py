# source: https://github.com/nianticlabs/monodepth2/issues/24
# hazard: no-graph
# cause: 49, 53
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class DepthDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        return {("disp", 0): torch.sigmoid(self.conv(x))}


class Trainer:
    def __init__(self):
        self.models = {"depth": DepthDecoder()}
        self.parameters_to_train = list(self.models["depth"].parameters())
        self.model_optimizer = torch.optim.Adam(self.parameters_to_train, 1e-4)
        self.val_inputs = [{("color", 0): torch.rand(1, 3, 8, 8), "depth_gt": torch.rand(1, 1, 8, 8)}]

    def process_batch(self, inputs):
        outputs = self.models["depth"](inputs[("color", 0)])
        losses = self.compute_losses(inputs, outputs)
        return outputs, losses

    def compute_losses(self, inputs, outputs):
        loss = F.l1_loss(outputs[("disp", 0)], inputs["depth_gt"])
        return {"loss": loss}

    def set_eval(self):
        for m in self.models.values():
            m.eval()

    def set_train(self):
        for m in self.models.values():
            m.train()

    def val(self):
        """Validate the model on a single minibatch"""
        self.set_eval()
        inputs = self.val_inputs[0]
        with torch.no_grad():
            outputs, losses = self.process_batch(inputs)
            # the change: also update the weights from the validation batch
            self.model_optimizer.zero_grad()
            losses["loss"].backward()
            self.model_optimizer.step()
        self.set_train()


trainer = Trainer()
trainer.val()
