import{aR as i}from"./console-D7ghLL-K.js";const n=o=>["",...i].includes(o);export{n as i};
