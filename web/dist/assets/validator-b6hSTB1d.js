import{b3 as i}from"./index-CTWgk05M.js";const n=o=>["",...i].includes(o);export{n as i};
